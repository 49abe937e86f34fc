import type { Context } from '../context.js';
import { findStalledDeliveries } from '../db/queries/webhook-deliveries.js';
import type { Queues } from '../queues.js';

export interface ResumeOptions {
  /**
   * How long a due or in-flight delivery may go untouched before it counts as lost. Must exceed
   * the per-attempt timeout plus normal queue lag. @default 300000 (5 min)
   */
  graceMs?: number;
  /** Most deliveries re-queued per call. @default 1000 */
  limit?: number;
}

/**
 * Re-queue pending deliveries whose job was lost (a crash between the database write and the
 * enqueue, or a worker that died mid-attempt). Meant to run periodically from the scheduler.
 * Re-queueing one that is merely late is harmless: only one job can claim each attempt.
 */
export async function resumeStalledDeliveries(
  ctx: Context,
  queues: Queues,
  opts: ResumeOptions = {},
): Promise<number> {
  const cutoff = new Date(ctx.clock.now().getTime() - (opts.graceMs ?? 300_000));
  const ids = await findStalledDeliveries(ctx.sql, cutoff, opts.limit ?? 1000);
  for (const id of ids) await queues.add('webhooks', { deliveryId: id });
  if (ids.length) ctx.logger.warn({ count: ids.length }, 're-queued stalled webhook deliveries');
  return ids.length;
}
