import type { Context } from '../../context.js';
import { crossLowBalance } from '../../db/queries/balance-alerts.js';
import { insertSchedulerEvents } from '../../db/queries/scheduler-events.js';
import type { Queues } from '../../queues.js';
import { flushSchedulerEvents } from '../outbox.js';

/**
 * `account.low_balance` when an account's balance (settled: what it holds, reservations aside, so
 * a burst of requests reserving their worst case does not make it flap) falls below the threshold
 * its owner set, once per fall: the alert is armed again when the balance is back at or above it
 * (a top-up), or when the owner sets a threshold. The mark and the event commit together.
 */
export async function balanceAlerts(
  ctx: Context,
  queues: Queues,
): Promise<{ raised: number; emitted: number }> {
  const now = ctx.clock.now();
  const raised = await ctx.sql.begin(async (tx) => {
    const crossed = await crossLowBalance(tx, now);
    return insertSchedulerEvents(
      tx,
      crossed.map((a) => ({
        dedupeKey: `account.low_balance:${a.id}:${now.getTime()}`,
        accountId: a.id,
        type: 'account.low_balance',
        data: {
          account_id: a.id,
          balance_ngonka: a.balance.toString(),
          available_ngonka: (a.balance > a.held ? a.balance - a.held : 0n).toString(),
          threshold_ngonka: a.threshold.toString(),
        },
        createdAt: now,
      })),
    );
  });
  return { raised, emitted: await flushSchedulerEvents(ctx, queues) };
}
