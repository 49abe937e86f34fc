import type { Context } from '../context.js';
import { findStalledDeliveries } from '../db/queries/webhook-deliveries.js';
import type { Queues } from '../queues.js';
import { attemptJobId, queueAttempt } from './attempt-job.js';

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
 * enqueue, a worker that died mid-attempt, a job that failed). Meant to run periodically from the
 * scheduler. Each attempt has one job id (attemptJobId), so re-queueing a delivery whose job is
 * merely late adds nothing, however many runs find it while the workers are down.
 */
export async function resumeStalledDeliveries(
  ctx: Context,
  queues: Queues,
  opts: ResumeOptions = {},
): Promise<number> {
  const cutoff = new Date(ctx.clock.now().getTime() - (opts.graceMs ?? 300_000));
  const stalled = await findStalledDeliveries(ctx.sql, cutoff, opts.limit ?? 1000);
  for (const d of stalled) {
    const attempt = d.attempts + 1;
    // A failed job keeps its id, which would make the add below a no-op: it goes first.
    const failed = await queues.get('webhooks').getJob(attemptJobId(d.id, attempt));
    if (failed && (await failed.isFailed())) await failed.remove();
    await queueAttempt(queues, d.id, attempt);
  }
  if (stalled.length) ctx.logger.warn({ count: stalled.length }, 're-queued stalled webhook deliveries');
  return stalled.length;
}
