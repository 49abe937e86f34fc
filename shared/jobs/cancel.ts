import type { Context } from '../context.js';
import { cancelJob, type JobRow } from '../db/queries/jobs.js';
import { settleRequest, settleRequestNow } from '../inference/settle-request.js';
import type { Queues } from '../queues.js';

/**
 * Cancel a job. A queued job never reaches a node (releaseQueuedJob) and its hold is voided.
 * A running job is marked cancelled at once (best effort): its node call finishes, and what the node
 * generated is still billed by the worker, because the network charged for it.
 */
export async function cancel(ctx: Context, queues: Queues, job: JobRow): Promise<JobRow> {
  const res = await cancelJob(ctx.sql, job.id, ctx.clock.now());
  if (!res) return job; // already finished: cancelling is a no-op, like OpenAI's
  // Its hold is voided before the answer (API.md: "cancel a queued job (hold released)"): the
  // client that reads its balance next sees the reservation gone.
  if (res.was === 'queued' || res.was === 'pending')
    await releaseQueuedJob(ctx, queues, job.id, res.job.hold_id, { now: true });
  return res.job;
}

/**
 * A job (or batch line) ended while queued never reaches a node: a message of its own is removed
 * (a worker meeting its id in a group sees the status and skips it) and its hold is voided.
 */
export async function releaseQueuedJob(
  ctx: Context,
  queues: Queues,
  jobId: string,
  holdId: string | null,
  opts: {
    /**
     * Void the hold in this call rather than in a settlement group (one job's cancel, not a
     * batch's lines; settleRequestNow).
     */
    now?: boolean;
  } = {},
): Promise<void> {
  await queues
    .get('inference')
    .remove(jobId)
    .catch(() => 0); // locked by a worker that just picked it up: it will see the status and skip
  if (!holdId) return;
  if (opts.now) await settleRequestNow(ctx, queues, holdId, null);
  else await settleRequest(ctx, queues, holdId, null);
}
