import type { Context } from '../context.js';
import type { HoldRow } from '../db/queries/holds.js';

/**
 * After holds resolved in Postgres, return the unused part of each reservation to the Redis
 * counters and balance. The Lua script deletes the hold record, so running this twice is harmless;
 * if the process dies before it runs, reconciliation rebuilds Redis from Postgres.
 */
export async function releaseHoldsInRedis(
  ctx: Context,
  items: { hold: Pick<HoldRow, 'id' | 'account_id' | 'child_key_id' | 'period_day'>; charged: bigint }[],
): Promise<void> {
  if (items.length === 0) return;
  const pipeline = items.map(({ hold, charged }) => {
    const day = hold.period_day.replaceAll('-', '');
    return ctx.scripts.run(
      'release',
      [
        ctx.keys.hold(hold.account_id, hold.id),
        ctx.keys.day(hold.account_id, hold.child_key_id, day),
        ctx.keys.month(hold.account_id, hold.child_key_id, day.slice(0, 6)),
        ctx.keys.balance(hold.account_id),
      ],
      [charged.toString()],
    );
  });
  await Promise.all(pipeline);
}
