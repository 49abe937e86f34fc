import type { Context } from '../context.js';
import type { JobRow } from '../db/queries/jobs.js';
import type { Queues } from '../queues.js';
import { emitFinalEvent } from '../webhooks/final-event.js';
import { formatJob } from './format.js';

/**
 * What follows a job reaching its end: its webhook (`job.succeeded` / `job.failed`, to the
 * account's endpoints and its own webhook_url) and, for a batch line, the batch's progress.
 * Failures here are logged, never thrown: the job's outcome is already recorded, and with it its
 * event, which the missed-events sweep emits if this does not.
 */
export async function afterJobFinished(
  ctx: Context,
  queues: Queues,
  job: JobRow,
  hooks: { onBatchLine?: (job: JobRow) => Promise<void> } = {},
): Promise<void> {
  try {
    if (job.batch_id) {
      await hooks.onBatchLine?.(job);
      return; // batch lines are reported by the batch's own events
    }
    await emitJobEvent(ctx, queues, job);
  } catch (err) {
    ctx.logger.error({ err, jobId: job.id }, 'after-job step failed');
  }
}

/**
 * A job of its own that succeeded, failed or expired: its event, once (job.failed for an expired
 * one, whose `data.status` says so); nothing for any other job.
 */
export async function emitJobEvent(ctx: Context, queues: Queues, job: JobRow): Promise<void> {
  if (job.batch_id || !hasJobEvent(job)) return;
  await emitFinalEvent(ctx, queues, job.id, {
    accountId: job.account_id,
    type: job.status === 'succeeded' ? 'job.succeeded' : 'job.failed',
    data: formatJob(job),
    url: job.webhook_url,
    occurredAt: job.completed_at,
  });
}

/** Whether a job's end is announced: it succeeded, failed or expired (a cancel is the client's own doing). */
export const hasJobEvent = (job: Pick<JobRow, 'status'>): boolean =>
  job.status === 'succeeded' || job.status === 'failed' || job.status === 'expired';
