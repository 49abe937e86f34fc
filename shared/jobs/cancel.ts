import type { Context } from '../context.js';
import { cancelJob, findJob, type JobRow } from '../db/queries/jobs.js';
import { settleRequest, settleRequestNow } from '../inference/settle-request.js';
import { inferenceJobIds, type Queues, queuePayloads } from '../queues.js';

/**
 * Cancel a job. A queued job never reaches a node (releaseQueuedJob) and its hold is voided.
 * A running job is marked cancelled at once (best effort): its node call finishes, and what the node
 * generated is still billed by the worker, because the network charged for it. A job still shows
 * `queued` for the first INFERENCE_RUNNING_MARK_MS of its call: one whose message a worker holds
 * is treated as running (releaseQueuedJob).
 */
export async function cancel(ctx: Context, queues: Queues, job: JobRow): Promise<JobRow> {
  const res = await cancelJob(ctx.sql, job.id, ctx.clock.now());
  // Already finished: cancelling is a no-op, like OpenAI's. The job as it is now, not as the caller
  // read it: a job read queued that ended since (another cancel, its worker) must not be answered
  // `queued`, which tells the client it will still run.
  if (!res) return (await findJob(ctx.sql, job.id)) ?? job;
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
    /** The jobs in the messages workers hold (inFlightJobIds), when many are released at once. */
    inFlight?: ReadonlySet<string>;
  } = {},
): Promise<void> {
  await queues
    .get('inference')
    .remove(jobId)
    .catch(() => 0); // locked by a worker that just picked it up: it will see the status
  if (!holdId) return;
  // A worker holds its message: its node call may be under way although the row says queued (the
  // mark waits INFERENCE_RUNNING_MARK_MS). Its worker settles the hold: it bills the call if the
  // node answered, or voids it if the worker read the status after the cancel (skipped jobs).
  // Checked after the status was written, so a worker that picks the message up later sees it.
  if ((opts.inFlight ?? (await inFlightJobIds(queues))).has(jobId)) return;
  if (opts.now) await settleRequestNow(ctx, queues, holdId, null);
  else await settleRequest(ctx, queues, holdId, null);
}

/** The jobs of the inference messages workers hold now (their node calls may be under way). */
export async function inFlightJobIds(queues: Queues): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const m of await queues.get('inference').getActive()) {
    const payload = m && queuePayloads.inference.safeParse(m.data); // a bad message holds no job
    if (payload?.success) for (const id of inferenceJobIds(payload.data)) ids.add(id);
  }
  return ids;
}
