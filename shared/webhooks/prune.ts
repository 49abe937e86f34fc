import type { Context } from '../context.js';
import { deleteEndedDeliveries } from '../db/queries/webhook-deliveries.js';
import { DAY_MS } from '../periods.js';

const BATCH = 1000;

/**
 * Delete webhook deliveries that ended more than WEBHOOK_DELIVERY_RETENTION_DAYS ago, a batch at a
 * time (short transactions beside live deliveries); how many went. Their events are long emitted:
 * nothing re-sends a delivery that is gone.
 */
export async function pruneDeliveries(ctx: Context): Promise<number> {
  const before = new Date(ctx.clock.now().getTime() - ctx.config.WEBHOOK_DELIVERY_RETENTION_DAYS * DAY_MS);
  let pruned = 0;
  for (;;) {
    const n = await deleteEndedDeliveries(ctx.sql, before, BATCH);
    pruned += n;
    if (n < BATCH) break;
  }
  if (pruned) ctx.logger.info({ pruned, before }, 'deleted ended webhook deliveries past their retention');
  return pruned;
}
