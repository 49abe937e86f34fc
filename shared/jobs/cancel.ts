import type { Context } from '../context.js';
import { cancelJob, type JobRow } from '../db/queries/jobs.js';
import { settleRequest } from '../inference/settle-request.js';
import type { Queues } from '../queues.js';

/**
 * Cancel a job. A queued job never reaches a node: a worker that meets its id (in a group, or in a
 * message of its own, which is removed here) sees the row cancelled and skips it; its hold is voided.
 * A running job is marked cancelled at once (best effort): its node call finishes, and what the node
 * generated is still billed by the worker, because the network charged for it.
 */
export async function cancel(ctx: Context, queues: Queues, job: JobRow): Promise<JobRow> {
  const res = await cancelJob(ctx.sql, job.id, ctx.clock.now());
  if (!res) return job; // already finished: cancelling is a no-op, like OpenAI's
  if (res.was === 'queued' || res.was === 'pending') {
    await queues
      .get('inference')
      .remove(job.id)
      .catch(() => 0); // locked by a worker that just picked it up: it will see the status and skip
    if (res.job.hold_id) await settleRequest(ctx, queues, res.job.hold_id, null);
  }
  return res.job;
}
