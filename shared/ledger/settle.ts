import type { Context } from '../context.js';
import type { TxSql } from '../db/client.js';
import {
  type HoldResolution,
  type HoldToSettle,
  insertMissingHolds,
  lockHoldsToSettle,
  resolveHolds,
  voidedHoldIds,
} from '../db/queries/holds.js';
import { addKeyUsage, type UsageDelta } from '../db/queries/key-usage-write.js';
import { SYSTEM_ACCOUNTS } from '../db/queries/ledger-accounts.js';
import { referralCreditsOfHolds } from '../db/queries/ledger-entries.js';
import {
  lockReferralCarries,
  type ReferralCarry,
  saveReferralCarries,
} from '../db/queries/referral-carry.js';
import { groupBy } from '../group-by.js';
import { newId } from '../ids.js';
import { countServedUnbilled } from '../metrics/registry.js';
import { minNgonka } from '../money.js';
import { actualCharge } from '../pricing.js';
import type { Settlement } from '../queues.js';
import { CREDIT_RESEND_MS, creditIdOf, creditRedisBalance } from './credit.js';
import { fromHoldTerms } from './hold-terms.js';
import { catchUpLastUsed } from './last-used.js';
import { postTransfers, type TransferDraft } from './post-transfers.js';
import { referralShares } from './referral-shares.js';
import { releaseHoldsInRedis, releaseIfSettled } from './release.js';

/** One resolved request, as the settlement queue carries it (its schema: shared/queues.ts). */
export type { Settlement } from '../queues.js';

export interface SettlementResult {
  holdId: string;
  /** `already` when an earlier run resolved this hold (a retried or duplicated job). */
  status: 'posted' | 'voided' | 'already';
  charged: bigint;
}

interface Planned {
  hold: HoldToSettle;
  s: Settlement;
  charge: bigint;
  /** The charge transfer that bills it, once booked. */
  chargeRef: string | null;
}

type Posted = Planned & { s: Extract<Settlement, { outcome: 'post' }> };
const isPosted = (p: Planned): p is Posted => p.s.outcome === 'post';

/**
 * Settle many holds in one transaction (DESIGN.md invariants 2 and 3): each open hold is posted at
 * its actual cost (never above the hold, at the price fixed at admission) or voided; each account
 * pays the sum of its holds' charges in one transfer, the upstream cost and the margin are booked,
 * referrers are paid from the margin, usage aggregates move. Then Redis gives back what was
 * reserved but not charged. Idempotent per hold: only an open hold is posted, and it names the
 * charge that billed it. Four round trips however many holds: lock and read them, then the hold
 * updates, transfers, account locks and usage together, then postings and balances, then commit
 * (one more first when an unrecorded hold has to be written, and one to lock the referral carries
 * of accounts someone referred).
 */
export async function settleHolds(
  ctx: Context,
  items: Settlement[],
  opts: {
    /** Writes that must commit with the settlement or not at all (they see the holds resolved). */
    inTransaction?: (tx: TxSql) => Promise<void>;
  } = {},
): Promise<SettlementResult[]> {
  const at = ctx.clock.now();
  const byHold = new Map(items.map((i) => [i.holdId, i]));

  const unrecorded = items.flatMap((i) =>
    i.outcome === 'post' && i.unrecorded ? [fromHoldTerms(i.unrecorded)] : [],
  );
  const committed = await ctx.sql.begin(async (tx) => {
    await insertMissingHolds(tx, unrecorded);
    const open = await lockHoldsToSettle(tx, [...byHold.keys()]);
    const plan: Planned[] = open.map((hold) => {
      const s = byHold.get(hold.id)!;
      const charge =
        s.outcome === 'post'
          ? actualCharge(
              s.promptTokens,
              s.completionTokens,
              hold.price_ngonka_per_token,
              hold.markup_bps,
              hold.amount,
            )
          : 0n;
      return { hold, s, charge, chargeRef: null };
    });
    // Accounts someone referred: their carried fractions, locked (one more round trip, for them only).
    const referred = new Set(
      plan.filter((p) => isPosted(p) && p.hold.referrer_l1).map((p) => p.hold.account_id),
    );
    const carries = await lockReferralCarries(tx, [...referred].sort());
    const { drafts, carried } = charges(plan, ctx.config, carries);
    const [, , untouched] = await Promise.all([
      resolveHolds(tx, plan.map(resolution), at),
      postTransfers(tx, drafts, at),
      addKeyUsage(tx, usageDeltas(plan, at)),
      saveReferralCarries(tx, carried),
    ]);
    await opts.inTransaction?.(tx);
    return { plan, drafts, untouched };
  });

  const { plan: resolved, drafts, untouched } = committed;
  // Once their rows are free, apart from any settlement.
  catchUpLastUsed(ctx.sql, ctx.logger, untouched);
  const unwritten = new Set(unrecorded.map((h) => h.id));
  await releaseHoldsInRedis(
    ctx,
    resolved.map((p) => ({ hold: p.hold, charged: p.charge, unwritten: unwritten.has(p.hold.id) })),
  );
  await creditReferrers(ctx, drafts);
  const done = new Map(resolved.map((p) => [p.hold.id, p]));
  // Holds an earlier run resolved: its Redis steps may never have run (redoSettledInRedis).
  await redoSettledInRedis(
    ctx,
    items.map((i) => i.holdId).filter((id) => !done.has(id)),
    unwritten,
  );
  await noteServedUnbilled(
    ctx,
    items.filter((i) => i.outcome === 'post' && !done.has(i.holdId)),
  );
  return items.map((i) => {
    const p = done.get(i.holdId);
    if (!p) return { holdId: i.holdId, status: 'already', charged: 0n };
    return { holdId: i.holdId, status: isPosted(p) ? 'posted' : 'voided', charged: p.charge };
  });
}

/**
 * Usage that came for holds already voided: requests served that will never be billed. Only the
 * stale-hold sweeper voids a hold whose request may still be running, at the hold's deadline, which
 * the admitting process set by its own clock; so this means a request outlived its deadline, most
 * likely because the scheduler's clock runs ahead of the api's. Said and counted (nothing else
 * shows it: reconciliation sees a voided hold, which is consistent).
 */
async function noteServedUnbilled(ctx: Context, posts: Settlement[]): Promise<void> {
  if (posts.length === 0) return; // a retried message's holds, mostly: posted by its first run
  const voided = await voidedHoldIds(
    ctx.sql,
    posts.map((p) => p.holdId),
  );
  if (voided.length === 0) return;
  countServedUnbilled(voided.length);
  ctx.logger.warn(
    { holds: voided },
    'usage came for holds the stale-hold sweeper had voided: served and not billed (is the scheduler’s clock ahead of the api’s?)',
  );
}

/** Referral payouts reach the referrers' available balances in Redis too, once per charge. */
async function creditReferrers(ctx: Context, drafts: TransferDraft[]): Promise<void> {
  const credits = drafts
    .filter((d) => d.kind === 'referral')
    .flatMap((d) => d.legs.filter((l) => l.amount > 0n).map((l) => ({ ...l, ref: d.ref })));
  await Promise.all(
    credits.map((c) =>
      creditRedisBalance(ctx, c.account, c.amount, creditIdOf('referral', c.ref), { resend: false }),
    ),
  );
}

/**
 * The Redis steps of settlements among `holdIds` that committed earlier, done again: each resolved
 * hold's release and its recent referral credits. That run's may have failed after its commit (a
 * timeout, a process killed) and would never run again; repeating them is safe, since the release
 * deletes each hold's record and creditRedisBalance sends each credit once. Settlement does it for
 * a retried message's holds, the scheduled reconciliation check for records Redis still has of
 * resolved holds. Returns how many hold records it released.
 */
export async function redoSettledInRedis(
  ctx: Context,
  holdIds: string[],
  /** Those whose message carried their terms (Released.unwritten, release.ts). */
  unwritten: ReadonlySet<string> = new Set(),
): Promise<number> {
  const { settled, released } = await releaseIfSettled(ctx, holdIds, unwritten);
  await creditAgain(ctx, settled);
  return released;
}

/** Send again the recent referral credits of holds an earlier settlement run resolved. */
async function creditAgain(ctx: Context, holdIds: string[]): Promise<void> {
  if (holdIds.length === 0) return;
  // By the clock now, not the run's start: its transaction may have waited on the hot rows' locks.
  const since = new Date(ctx.clock.now().getTime() - CREDIT_RESEND_MS);
  const credits = await referralCreditsOfHolds(ctx.sql, holdIds, since);
  await Promise.all(
    credits.map((c) =>
      creditRedisBalance(ctx, c.account, c.amount, creditIdOf('referral', c.ref), { resend: true }),
    ),
  );
}

function resolution(p: Planned): HoldResolution {
  const posted = isPosted(p);
  return {
    id: p.hold.id,
    status: posted ? 'posted' : 'voided',
    postedAmount: p.charge,
    promptTokens: posted ? p.s.promptTokens : null,
    completionTokens: posted ? p.s.completionTokens : null,
    chargeRef: p.chargeRef,
  };
}

/**
 * The ledger transfers of the posted holds, one charge per account: the customer pays the sum of
 * its holds' charges, the upstream cost (tokens at the node's price) and the margin are booked;
 * referrers (L1, L2) are paid from the margin (referral-shares.ts: what the account's earlier charges
 * left unpaid is `carries`); `carried` is what this one leaves unpaid.
 * Sets `chargeRef` on the holds each charge bills.
 */
function charges(
  plan: Planned[],
  config: { REFERRAL_L1_BPS: number; REFERRAL_L2_BPS: number },
  carries: ReadonlyMap<string, ReferralCarry>,
): { drafts: TransferDraft[]; carried: ReferralCarry[] } {
  const l1Bps = BigInt(config.REFERRAL_L1_BPS);
  const l2Bps = BigInt(config.REFERRAL_L2_BPS);
  const drafts: TransferDraft[] = [];
  const carried: ReferralCarry[] = [];
  for (const [account, posted] of groupBy(plan.filter(isPosted), (p) => p.hold.account_id)) {
    const t = { charge: 0n, upstream: 0n, r1: 0n, r2: 0n, prompt: 0, completion: 0 };
    const { referrer_l1: l1, referrer_l2: l2 } = posted[0]!.hold; // the account's, on every hold
    for (const { hold, s, charge } of posted) {
      const upstream = upstreamCost(hold, s.promptTokens + s.completionTokens);
      t.charge += charge;
      t.upstream += upstream;
      t.prompt += s.promptTokens;
      t.completion += s.completionTokens;
    }
    if (t.charge === 0n && t.upstream === 0n) continue; // nothing to book: no legs
    if (l1) {
      const carry = carries.get(account) ?? { accountId: account, l1: 0n, l2: 0n };
      const shares = referralShares(
        t.charge,
        t.charge - t.upstream,
        { l1: l1Bps, l2: l2 ? l2Bps : null },
        carry,
      );
      t.r1 = shares.l1;
      t.r2 = shares.l2;
      carried.push({ accountId: account, ...shares.carry });
    }
    const ref = newId('chg');
    for (const p of posted) p.chargeRef = ref;
    drafts.push({
      kind: 'charge',
      ref,
      metadata: { requests: posted.length, prompt_tokens: t.prompt, completion_tokens: t.completion },
      legs: [
        { account, amount: -t.charge },
        { account: SYSTEM_ACCOUNTS.upstreamCost, amount: t.upstream },
        { account: SYSTEM_ACCOUNTS.revenue, amount: t.charge - t.upstream },
      ],
    });
    if (l1 && t.r1 + t.r2 > 0n)
      drafts.push({
        kind: 'referral',
        ref,
        metadata: { from_account: account, charge_ngonka: t.charge.toString() },
        legs: [
          { account: SYSTEM_ACCOUNTS.referralPayouts, amount: -(t.r1 + t.r2) },
          { account: l1, amount: t.r1 },
          ...(l2 ? [{ account: l2, amount: t.r2 }] : []),
        ],
      });
  }
  return { drafts, carried };
}

/**
 * What the node bills for a request: its tokens at the node's price, capped at the escrow, as Gonka
 * caps it (DESIGN.md "Actual cost"). The escrow is the hold before our markup; a charge capped at
 * the hold is then still at least the upstream cost, so the margin is never negative.
 */
function upstreamCost(hold: HoldToSettle, tokens: number): bigint {
  const escrow = (hold.amount * 10_000n) / BigInt(hold.markup_bps);
  return minNgonka(BigInt(tokens) * hold.price_ngonka_per_token, escrow);
}

/** Usage of the posted holds, aggregated per (key, day, model) so each row is written once per batch. */
function usageDeltas(plan: Planned[], at: Date): UsageDelta[] {
  const usage = new Map<string, UsageDelta>();
  for (const { hold, s, charge } of plan.filter(isPosted)) {
    const k = `${hold.child_key_id}|${hold.period_day}|${hold.model}`;
    const u = usage.get(k) ?? {
      childKeyId: hold.child_key_id,
      accountId: hold.account_id,
      day: hold.period_day,
      model: hold.model,
      requests: 0,
      promptTokens: 0,
      completionTokens: 0,
      cost: 0n,
      lastUsedAt: at,
    };
    u.requests += 1;
    u.promptTokens += s.promptTokens;
    u.completionTokens += s.completionTokens;
    u.cost += charge;
    usage.set(k, u);
  }
  return [...usage.values()];
}
