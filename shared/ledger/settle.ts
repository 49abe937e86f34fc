import type { Context } from '../context.js';
import { lockOpenHolds, resolveHolds } from '../db/queries/holds.js';
import { addKeyUsage, referralChains, type UsageDelta } from '../db/queries/key-usage-write.js';
import { SYSTEM_ACCOUNTS } from '../db/queries/ledger-accounts.js';
import { actualCharge } from '../pricing.js';
import { postTransfers, type TransferDraft } from './post-transfers.js';
import { releaseHoldsInRedis } from './release.js';

/** What settlement learns from the worker: the node's usage, or that nothing was served. */
export type Settlement =
  | { holdId: string; outcome: 'post'; promptTokens: number; completionTokens: number }
  | { holdId: string; outcome: 'void' };

export interface SettlementResult {
  holdId: string;
  /** `already` when an earlier run resolved this hold (a retried or duplicated job). */
  status: 'posted' | 'voided' | 'already';
  charged: bigint;
}

/**
 * Settle many holds in one transaction (DESIGN.md invariants 2 and 3): each open hold is posted at
 * its actual cost (never above the hold, at the price fixed at admission) or voided; the customer
 * pays, the upstream cost and the margin are booked, referrers are paid from the margin, usage
 * aggregates move. Then Redis gives back what was reserved but not charged. Idempotent per hold.
 */
export async function settleHolds(ctx: Context, items: Settlement[]): Promise<SettlementResult[]> {
  const at = ctx.clock.now();
  const { l1Bps, l2Bps } = {
    l1Bps: BigInt(ctx.config.REFERRAL_L1_BPS),
    l2Bps: BigInt(ctx.config.REFERRAL_L2_BPS),
  };
  const byHold = new Map(items.map((i) => [i.holdId, i]));

  const resolved = await ctx.sql.begin(async (tx) => {
    const open = await lockOpenHolds(tx, [...byHold.keys()]);
    const plan = open.map((h) => {
      const s = byHold.get(h.id)!;
      const charge =
        s.outcome === 'post'
          ? actualCharge(s.promptTokens, s.completionTokens, h.price_ngonka_per_token, h.markup_bps, h.amount)
          : 0n;
      return { hold: h, s, charge };
    });
    await resolveHolds(
      tx,
      plan.map((p) => ({
        id: p.hold.id,
        status: p.s.outcome === 'post' ? 'posted' : 'voided',
        postedAmount: p.charge,
      })),
      at,
    );

    const charged = plan.filter((p) => p.s.outcome === 'post');
    const chains = new Map(
      (
        await referralChains(
          tx,
          charged.map((p) => p.hold.account_id),
        )
      ).map((c) => [c.account_id, c]),
    );
    const drafts: TransferDraft[] = [];
    const usage = new Map<string, UsageDelta>();
    for (const { hold, s, charge } of charged) {
      if (s.outcome !== 'post') continue;
      const tokens = BigInt(s.promptTokens + s.completionTokens);
      const upstream = tokens * hold.price_ngonka_per_token;
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
      const chain = chains.get(hold.account_id);
      if (chain?.l1) {
        const r1 = (charge * l1Bps) / 10_000n;
        const r2 = chain.l2 ? (charge * l2Bps) / 10_000n : 0n;
        if (r1 + r2 > 0n)
          drafts.push({
            kind: 'referral',
            ref: hold.request_id,
            metadata: { from_account: hold.account_id, charge_ngonka: charge.toString() },
            legs: [
              { account: SYSTEM_ACCOUNTS.revenue, amount: -(r1 + r2) },
              { account: chain.l1, amount: r1 },
              ...(chain.l2 ? [{ account: chain.l2, amount: r2 }] : []),
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
    await postTransfers(tx, drafts, at);
    await addKeyUsage(tx, [...usage.values()]);
    return plan;
  });

  await releaseHoldsInRedis(
    ctx,
    resolved.map((p) => ({ hold: p.hold, charged: p.charge })),
  );
  const done = new Map(resolved.map((p) => [p.hold.id, p]));
  return items.map((i) => {
    const p = done.get(i.holdId);
    if (!p) return { holdId: i.holdId, status: 'already' as const, charged: 0n };
    return {
      holdId: i.holdId,
      status: i.outcome === 'post' ? ('posted' as const) : ('voided' as const),
      charged: p.charge,
    };
  });
}
