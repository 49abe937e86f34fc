import type { Context } from '../context.js';
import {
  type HoldToSettle,
  insertMissingHolds,
  lockHoldsToSettle,
  resolveHolds,
} from '../db/queries/holds.js';
import { addKeyUsage, type UsageDelta } from '../db/queries/key-usage-write.js';
import { SYSTEM_ACCOUNTS } from '../db/queries/ledger-accounts.js';
import { actualCharge } from '../pricing.js';
import type { HoldTerms } from '../queues.js';
import { fromHoldTerms } from './hold-terms.js';
import { postTransfers, type TransferDraft } from './post-transfers.js';
import { releaseHoldsInRedis } from './release.js';

/**
 * What settlement learns from the worker: the node's usage, or that nothing was served. A post
 * carries the hold's terms when its admission write failed although the request was served
 * (`unrecorded`): settlement then writes the hold first, so the request is still billed once.
 */
export type Settlement =
  | {
      holdId: string;
      outcome: 'post';
      promptTokens: number;
      completionTokens: number;
      unrecorded?: HoldTerms;
    }
  | { holdId: string; outcome: 'void' };

export interface SettlementResult {
  holdId: string;
  /** `already` when an earlier run resolved this hold (a retried or duplicated job). */
  status: 'posted' | 'voided' | 'already';
  charged: bigint;
}

interface Planned {
  hold: HoldToSettle;
  s: Settlement;
  status: 'posted' | 'voided';
  charge: bigint;
}

/**
 * Settle many holds in one transaction (DESIGN.md invariants 2 and 3): each open hold is posted at
 * its actual cost (never above the hold, at the price fixed at admission) or voided; the customer
 * pays, the upstream cost and the margin are booked, referrers are paid from the margin, usage
 * aggregates move. Then Redis gives back what was reserved but not charged. Idempotent per hold.
 * Four round trips however many holds: lock and read them, then the hold updates, transfers,
 * account locks and usage together, then postings and balances, then commit (one more first when
 * an unrecorded hold has to be written).
 */
export async function settleHolds(ctx: Context, items: Settlement[]): Promise<SettlementResult[]> {
  const at = ctx.clock.now();
  const byHold = new Map(items.map((i) => [i.holdId, i]));

  const unrecorded = items.flatMap((i) =>
    i.outcome === 'post' && i.unrecorded ? [fromHoldTerms(i.unrecorded)] : [],
  );
  const resolved = await ctx.sql.begin(async (tx) => {
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
      return { hold, s, status: s.outcome === 'post' ? 'posted' : 'voided', charge };
    });
    const { drafts, usage } = bookings(plan, at, ctx.config);
    await Promise.all([
      resolveHolds(
        tx,
        plan.map((p) => ({ id: p.hold.id, status: p.status, postedAmount: p.charge })),
        at,
      ),
      postTransfers(tx, drafts, at),
      addKeyUsage(tx, usage),
    ]);
    return plan;
  });

  await releaseHoldsInRedis(
    ctx,
    resolved.map((p) => ({ hold: p.hold, charged: p.charge })),
  );
  const done = new Map(resolved.map((p) => [p.hold.id, p]));
  return items.map((i) => {
    const p = done.get(i.holdId);
    return { holdId: i.holdId, status: p?.status ?? 'already', charged: p?.charge ?? 0n };
  });
}

/**
 * The ledger transfers and usage deltas of the posted holds: per charge, the customer pays, the
 * upstream cost and the margin are booked; referrers (L1, L2) are paid from the margin. Usage is
 * aggregated per (key, day, model) so each row is written once per batch.
 */
function bookings(
  plan: Planned[],
  at: Date,
  config: { REFERRAL_L1_BPS: number; REFERRAL_L2_BPS: number },
): { drafts: TransferDraft[]; usage: UsageDelta[] } {
  const l1Bps = BigInt(config.REFERRAL_L1_BPS);
  const l2Bps = BigInt(config.REFERRAL_L2_BPS);
  const drafts: TransferDraft[] = [];
  const usage = new Map<string, UsageDelta>();
  for (const { hold, s, charge } of plan) {
    if (s.outcome !== 'post') continue;
    const upstream = BigInt(s.promptTokens + s.completionTokens) * hold.price_ngonka_per_token;
    drafts.push({
      kind: 'charge',
      ref: hold.request_id,
      metadata: {
        hold_id: hold.id,
        key_id: hold.child_key_id,
        model: hold.model,
        prompt_tokens: s.promptTokens,
        completion_tokens: s.completionTokens,
      },
      legs: [
        { account: hold.account_id, amount: -charge },
        { account: SYSTEM_ACCOUNTS.upstreamCost, amount: upstream },
        { account: SYSTEM_ACCOUNTS.revenue, amount: charge - upstream },
      ],
    });
    const { referrer_l1: l1, referrer_l2: l2 } = hold;
    if (l1) {
      const r1 = (charge * l1Bps) / 10_000n;
      const r2 = l2 ? (charge * l2Bps) / 10_000n : 0n;
      if (r1 + r2 > 0n)
        drafts.push({
          kind: 'referral',
          ref: hold.request_id,
          metadata: { from_account: hold.account_id, charge_ngonka: charge.toString() },
          legs: [
            { account: SYSTEM_ACCOUNTS.revenue, amount: -(r1 + r2) },
            { account: l1, amount: r1 },
            ...(l2 ? [{ account: l2, amount: r2 }] : []),
          ],
        });
    }
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
  return { drafts, usage: [...usage.values()] };
}
