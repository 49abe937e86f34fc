import type { Context } from '../context.js';
import { cancelJob, findJob, type JobRow, type JobStatus } from '../db/queries/jobs.js';
import { settleRequest, settleRequestNow } from '../inference/settle-request.js';
import { settleHolds } from '../ledger/settle.js';
import { inferenceJobIds, type Queues, queuePayloads } from '../queues.js';

/** What a client reads as not started yet: API.md's "queued job" (pending: its hand-off not yet made). */
const SHOWN_QUEUED: ReadonlySet<JobStatus> = new Set(['queued', 'pending']);

/**
 * Cancel a job. One that shows `queued` never costs anything (API.md: "cancel a queued job (hold
 * released)"): it is cancelled and its hold voided in one transaction, before the answer, even
 * when a worker's node call for it is already under way (a job shows `queued` for the first
 * INFERENCE_RUNNING_MARK_MS of its call, to spare a write): that worker then finds the hold voided
 * and bills nothing, so the gateway bears the call its own display hid. A job that shows `running`
 * is marked cancelled at once (best effort): its node call finishes, and what the node generated is
 * still billed by the worker, because the network charged for it.
 */
export async function cancel(ctx: Context, queues: Queues, job: JobRow): Promise<JobRow> {
  if (job.hold_id && SHOWN_QUEUED.has(job.status)) {
    const cancelled = await cancelQueued(ctx, job.id, job.hold_id);
    if (cancelled) {
      await removeMessage(queues, job.id);
      // A worker whose node call for it is under way aborts it: nobody pays for what it would make.
      await ctx.redis.publish(jobCancelChannel(ctx), job.id).catch(() => 0);
      return cancelled;
    }
  }
  const res = await cancelJob(ctx.sql, job.id, ctx.clock.now());
  // Already finished: cancelling is a no-op, like OpenAI's. The job as it is now, not as the caller
  // read it: a job read queued that ended since (another cancel, its worker) must not be answered
  // `queued`, which tells the client it will still run.
  if (!res) return (await findJob(ctx.sql, job.id)) ?? job;
  // Read running, queued again by now (a retry waiting out its backoff): as a batch's lines.
  if (SHOWN_QUEUED.has(res.was)) await releaseQueuedJob(ctx, queues, job.id, res.job.hold_id, { now: true });
  return res.job;
}

/** Where a cancel of a job that still showed queued is announced to the inference workers. */
const jobCancelChannel = (ctx: Context) => `${ctx.config.REDIS_PREFIX}:job-cancels`;

/**
 * Call `onCancel` with each job id a cancel announces (cancel), on a connection of its own (a
 * subscribed connection serves nothing else). Best effort: a cancel missed while Redis is away
 * leaves the call to finish, unbilled.
 */
export function listenForJobCancels(ctx: Context, onCancel: (jobId: string) => void): { close(): void } {
  const sub = ctx.redis.duplicate();
  sub.on('error', () => {}); // it reconnects by itself; the workers' own connections log outages
  sub.on('message', (_channel: string, jobId: string) => onCancel(jobId));
  sub.subscribe(jobCancelChannel(ctx)).catch((err: unknown) => {
    ctx.logger.warn({ err }, 'not listening for job cancels; a cancelled job’s call runs to its end');
  });
  return { close: () => sub.disconnect() };
}

/** The job was no longer queued when the cancel locked it: cancelQueued's transaction is undone. */
class NotQueued extends Error {}

/**
 * Cancel a job that still shows queued and void its hold in one transaction (the hold locked
 * first, as settlement locks it, then the job), so a worker whose call ends meanwhile cannot bill
 * the hold between the two. Null, with nothing written, if the job no longer showed queued.
 */
async function cancelQueued(ctx: Context, jobId: string, holdId: string): Promise<JobRow | null> {
  let cancelled: JobRow | null = null;
  try {
    await settleHolds(ctx, [{ holdId, outcome: 'void' }], {
      inTransaction: async (tx) => {
        const res = await cancelJob(tx, jobId, ctx.clock.now());
        if (!res || !SHOWN_QUEUED.has(res.was)) throw new NotQueued();
        cancelled = res.job;
      },
    });
  } catch (err) {
    if (err instanceof NotQueued) return null;
    // Committed, and only a Redis step after it failed (the hold's release, which the scheduled
    // check finishes): the job is cancelled and its bill voided, which is what the client asked.
    const now = cancelled ? await findJob(ctx.sql, jobId).catch(() => null) : null;
    if (now?.status !== 'cancelled') throw err;
    ctx.logger.warn({ err, jobId, holdId }, 'job cancelled; its hold not yet released in Redis');
    return now;
  }
  return cancelled;
}

/** Its own message leaves the queue; locked by a worker that just picked it up, it sees the status. */
async function removeMessage(queues: Queues, jobId: string): Promise<void> {
  await queues
    .get('inference')
    .remove(jobId)
    .catch(() => 0);
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
  await removeMessage(queues, jobId);
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
