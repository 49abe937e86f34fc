import type { Context } from '../context.js';
import type { HoldRow } from '../db/queries/holds.js';
import { resolvedHoldsAmong } from '../db/queries/reconcile-admission.js';
import { groupBy } from '../group-by.js';

type Released = {
  hold: Pick<HoldRow, 'id' | 'account_id' | 'child_key_id' | 'period_day'>;
  charged: bigint;
  /** Settlement wrote the hold from its terms: Postgres never had it open (release-holds-n.lua). */
  unwritten?: boolean;
};

/**
 * After holds resolved in Postgres, return the unused part of each reservation to the Redis
 * counters and balance: one script call per account (its keys share one cluster slot). The script
 * deletes each hold record, so running this twice is harmless; if the process dies before it runs,
 * reconciliation rebuilds Redis from Postgres. Returns how many hold records it released.
 */
export async function releaseHoldsInRedis(ctx: Context, items: Released[]): Promise<number> {
  if (items.length === 0) return 0;
  const released = await Promise.all(
    [...groupBy(items, (i) => i.hold.account_id)].map(([accountId, list]) => {
      const keys = [
        ctx.keys.balance(accountId),
        ctx.keys.loadEpoch(accountId),
        ctx.keys.heldRecords(accountId),
        ctx.keys.balanceGeneration(accountId),
      ];
      for (const { hold } of list) {
        const day = hold.period_day.replaceAll('-', '');
        keys.push(
          ctx.keys.hold(accountId, hold.id),
          ctx.keys.day(accountId, hold.child_key_id, day),
          ctx.keys.month(accountId, hold.child_key_id, day.slice(0, 6)),
          ctx.keys.childKey(accountId, hold.child_key_id),
        );
      }
      return ctx.scripts.run(
        'releaseHolds',
        keys,
        list.flatMap((i) => [i.charged.toString(), i.hold.id, i.unwritten ? 1 : 0]),
      );
    }),
  );
  return released.reduce<number>((n, r) => n + Number(r), 0);
}

/**
 * Release again, in Redis, the holds among `holdIds` that are resolved in Postgres, each at what it
 * posted. For a release that may have been lost: one that failed after its settlement committed
 * (settle.ts), or one that found no record because Redis had lost it, before a repair put the
 * record back (reconcile). Safe whenever: the script deletes each record, so a hold released
 * already (or released by this call, if it came first) changes nothing. Returns the resolved holds
 * among `holdIds`, and how many records it released.
 */
export async function releaseIfSettled(
  ctx: Context,
  holdIds: string[],
  /** Those settlement wrote from their terms (Released.unwritten). */
  unwritten: ReadonlySet<string> = new Set(),
): Promise<{ settled: string[]; released: number }> {
  if (holdIds.length === 0) return { settled: [], released: 0 };
  const settled = await resolvedHoldsAmong(ctx.sql, holdIds);
  const released = await releaseHoldsInRedis(
    ctx,
    settled.map((h) => ({ hold: h, charged: h.charged, unwritten: unwritten.has(h.id) })),
  );
  return { settled: settled.map((h) => h.id), released };
}

/**
 * Finish now, in Redis, the releases of the account's holds that Postgres shows resolved while
 * Redis still keeps their records: a settlement between its commit and its release (or one whose
 * release was lost). Until then admission, which reads Redis, still reserves their unused parts, so
 * a refusal for money that would otherwise be final (a batch line's) calls this first: when it
 * released anything, the refusal may not stand. Returns how many records it released.
 */
export async function releaseSettledOfAccount(ctx: Context, accountId: string): Promise<number> {
  const ids = await ctx.redis.smembers(ctx.keys.heldRecords(accountId));
  return (await releaseIfSettled(ctx, ids)).released;
}
