import { type Job, Worker } from 'bullmq';
import pLimit from 'p-limit';
import { childKeyRefusal } from '../shared/admission/key-standing.js';
import { batchEnding, batchEndingOf, END_ERRORS, type EndReason } from '../shared/batches/end-lines.js';
import type { Context } from '../shared/context.js';
import {
  type AttemptMark,
  completeJobs,
  type JobCompletion,
  markJobsRunning,
  readJobsToRun,
  recordAttempt,
  type StartedJobRow,
} from '../shared/db/queries/job-attempts.js';
import {
  failJob,
  findJob,
  type JobRow,
  openHoldOfEndedJob,
  recordEndedJobBill,
} from '../shared/db/queries/jobs.js';
import { ApiError, errorBody } from '../shared/errors.js';
import { GonkaUpstreamError, stripForcedFields } from '../shared/gonka/index.js';
import { GroupCommit } from '../shared/group-commit.js';
import { settleRequest, settleRequestNow } from '../shared/inference/settle-request.js';
import { upstreamToApiError } from '../shared/inference/upstream-errors.js';
import { whiteLabel } from '../shared/inference/white-label.js';
import { listenForJobCancels } from '../shared/jobs/cancel.js';
import { inferenceMessageOptions, retryPriority } from '../shared/jobs/enqueue-inference.js';
import { afterJobFinished } from '../shared/jobs/finish.js';
import { withLogFields } from '../shared/log-context.js';
import { actualCharge } from '../shared/pricing.js';
import {
  bullPrefix,
  inferenceJobIds,
  type Payload,
  parsePayload,
  type Queues,
  queuePayloads,
} from '../shared/queues.js';
import { redisOptionsFromUrl } from '../shared/redis/client.js';
import { followWorker } from '../shared/redis/outage-log.js';
import { settleAll } from '../shared/settle-all.js';
import type { Upstream } from '../shared/upstream.js';

export interface InferenceWorkerOptions {
  /** Jobs running at once per worker process (node calls in flight). @default config INFERENCE_CONCURRENCY */
  concurrency?: number;
  /** Called when a batch line ends (the batch dispatcher's progress hook). */
  onBatchLine?: (job: JobRow) => Promise<void>;
}

/** What a job whose workers kept dying mid-call ends with (it is not tried again). */
const STALLED_OUT = 'The job was interrupted while running too many times and was not tried again';

/**
 * The inference queue processor: runs admitted jobs on Gonka nodes, a group per BullMQ job (see
 * enqueueInference). A job whose node call fails with attempts left goes back on the queue alone
 * with exponential backoff (its row counts the attempts); stalled groups re-run after a crash; the
 * last attempt, or a request the node rejects outright, fails the job visibly and voids its hold.
 * The result is stored in Postgres, then settlement books the usage exactly once per hold. The
 * Postgres reads and writes of attempts that start or finish together go out as one statement each;
 * a job is marked `running` only once its call outlasts INFERENCE_RUNNING_MARK_MS (job-attempts.ts).
 */
export function startInferenceWorker(
  ctx: Context,
  deps: { upstream: Upstream; queues: Queues },
  opts: InferenceWorkerOptions = {},
): Worker {
  const finished = (job: JobRow) =>
    afterJobFinished(ctx, deps.queues, job, { onBatchLine: opts.onBatchLine });
  const starts = new GroupCommit<string, StartedJobRow | null>(async (ids) => {
    const rows = new Map((await readJobsToRun(ctx.sql, ids)).map((r) => [r.id, r]));
    return ids.map((id) => rows.get(id) ?? null);
  });
  const marks = new GroupCommit<AttemptMark>((m) => markJobsRunning(ctx.sql, m));
  /** Marks the job running if its call is still going after INFERENCE_RUNNING_MARK_MS; returns the disarm. */
  const markIfSlow = (m: AttemptMark): (() => void) => {
    const timer = setTimeout(() => {
      marks
        .add(m)
        .catch((err: unknown) => ctx.logger.warn({ err, jobId: m.id }, 'marking a job running failed'));
    }, ctx.config.INFERENCE_RUNNING_MARK_MS);
    return () => clearTimeout(timer);
  };
  const completions = new GroupCommit<JobCompletion, boolean>(async (done) => {
    const ids = new Set(await completeJobs(ctx.sql, done));
    return done.map((d) => ids.has(d.id));
  });

  async function fail(
    jobId: string,
    holdId: string | null,
    err: unknown,
    sent: Pick<JobRow, 'model' | 'request'>,
    attempt?: AttemptMark,
  ): Promise<void> {
    // The stored request is what the node was sent: its model is the node's name for the job's.
    const apiError =
      err instanceof ApiError
        ? err
        : upstreamToApiError(err, { id: sent.model, upstream: String(sent.request.model) });
    const error = apiError
      ? errorBody(apiError).error
      : {
          type: 'internal_error',
          message: err instanceof Error && err.message === STALLED_OUT ? STALLED_OUT : 'The job failed',
        };
    // A job that used up its attempts on failing nodes says so; "retry shortly" was the sync answer's.
    const triedOut = attempt !== undefined && attempt.attempt >= ctx.config.INFERENCE_ATTEMPTS;
    if (
      triedOut &&
      attempt.attempt > 1 &&
      (error.type === 'upstream_error' || error.type === 'upstream_unavailable')
    )
      error.message = `${String(error.message).replace(/; retry shortly$/, '')} (tried ${attempt.attempt} times)`;
    const job = await failJob(ctx.sql, jobId, {
      status: 'failed',
      error,
      at: ctx.clock.now(),
      ...(attempt ? { attempt } : {}),
    });
    // Once per job, as it ends. What the nodes answered (the last attempt failed, a request a node
    // refused) is the job's outcome, not the gateway's fault: a warning. Anything else is a bug or
    // an outage here.
    if (job) {
      const line = { jobId, batchId: job.batch_id ?? undefined, attempts: job.attempts, error, err };
      if (apiError) ctx.logger.warn(line, 'job failed');
      else ctx.logger.error(line, 'job failed');
    }
    if (holdId) await settleRequest(ctx, deps.queues, holdId, null);
    if (job) await finished(job);
  }

  /**
   * A job that ended while a worker held its message leaves its hold to that worker
   * (releaseQueuedJob): one that will not run it gives the hold back, if still open.
   */
  async function releaseIfEndedUnrun(jobId: string): Promise<void> {
    const hold = await openHoldOfEndedJob(ctx.sql, jobId);
    if (hold) await settleRequest(ctx, deps.queues, hold, null);
  }

  /**
   * A node failure with attempts left: the job alone goes back on the queue, after its backoff.
   * If the job ended during the call instead (cancelled, say), nothing is queued and that status
   * is returned.
   */
  async function retryLater(attempt: AttemptMark, priority: number): Promise<JobRow['status'] | null> {
    const { id: jobId, attempt: attempts } = attempt;
    const ended = await recordAttempt(ctx.sql, attempt);
    if (ended) return ended;
    const delay = ctx.config.INFERENCE_BACKOFF_MS * 2 ** (attempts - 1);
    // The id makes the hand-off idempotent: the same attempt's retry is queued once.
    await deps.queues.add(
      'inference',
      { jobId },
      {
        delay,
        jobId: `${jobId}.${attempts}`,
        ...inferenceMessageOptions(ctx.config, priority),
      },
    );
    return null;
  }

  /** One job of a group: start it, call a node, record the answer, hand the usage to settlement. */
  async function run(jobId: string): Promise<string> {
    const started = await starts.add(jobId);
    if (!started) {
      // Cancelled, expired or already finished: this worker will not run it.
      await releaseIfEndedUnrun(jobId);
      return 'skipped';
    }
    const {
      hold_status,
      hold_amount,
      hold_price_ngonka_per_token,
      hold_markup_bps,
      batch_cancelling_at,
      batch_expires_at,
      key_status,
      key_expires_at,
      mk_status,
      ...job
    } = started;
    // A batch line whose batch was cancelled or ran out of time while the line waited for a slot
    // (its group's message was in a worker's hands, so the end left it to finish): it never
    // reached a node, so it ends with the batch's reason and its hold goes back.
    const batchEnded = batchEnding(
      { cancelling_at: batch_cancelling_at, expires_at: batch_expires_at },
      ctx.clock.now(),
    );
    if (job.batch_id && batchEnded && job.hold_id) {
      await endLine(job.id, job.hold_id, batchEnded);
      return batchEnded;
    }
    // The row counts the attempts that were marked or ended; this is the next one.
    const attempt: AttemptMark = { id: jobId, attempt: job.attempts + 1, startedAt: ctx.clock.now() };
    if (hold_status !== 'open' || !job.hold_id) {
      await fail(jobId, null, new Error('hold is not open'), job, attempt);
      return 'failed';
    }
    // Its key deleted, disabled or expired (or its management key revoked) since it was queued:
    // the owner stopped that key's spending, so the job ends unrun and its hold goes back, as a
    // batch's lines not yet dispatched do. Read with the job, from Postgres: no extra round trip.
    const refused = childKeyRefusal(
      { status: key_status, expires_at: key_expires_at, mk_status },
      ctx.clock.now(),
    );
    if (refused) {
      await fail(jobId, job.hold_id, refused, job, attempt);
      return 'failed';
    }

    let result: Awaited<ReturnType<typeof deps.upstream.client.chat>>;
    const disarm = markIfSlow(attempt);
    const call = new AbortController();
    calls.set(jobId, call);
    try {
      // Its failed-over nodes are logged with the job's id.
      result = await deps.upstream.client
        .chat(job.request, { log: withLogFields(ctx, { jobId }), signal: call.signal })
        .finally(() => {
          // The call is over, whatever its outcome: no mark to make, nothing left to abort.
          disarm();
          calls.delete(jobId);
        });
    } catch (err) {
      // Cancelled while it still showed queued: the cancel ended the job and voided its hold.
      if (call.signal.aborted) return 'cancelled';
      const lastAttempt = attempt.attempt >= ctx.config.INFERENCE_ATTEMPTS;
      const permanent = err instanceof GonkaUpstreamError && !err.retryable;
      // A batch line whose batch was cancelled or ran out of time during the call ends here, as the
      // lines the end reached did: a retry would be a node call (and a bill) no one wants any more.
      const ending =
        !lastAttempt && !permanent && job.batch_id ? await batchEndingOf(ctx, job.batch_id) : null;
      if (ending) {
        await endLine(jobId, job.hold_id, ending, attempt);
        return ending;
      }
      if (!lastAttempt && !permanent) {
        const ended = await retryLater(attempt, retryPriority(job));
        if (!ended) return 'retrying';
        // Cancelled (or expired with its batch) while the node failed it: no attempt follows and
        // nothing was served, so the hold goes back now, not minutes later when the stale-hold
        // sweeper would find it; a cancel that saw this call under way left it to this worker
        // (releaseQueuedJob). (A run of the same job that finished settles the hold itself.)
        if (ended === 'cancelled' || ended === 'expired')
          await settleRequest(ctx, deps.queues, job.hold_id, null);
        return ended;
      }
      await fail(jobId, job.hold_id, err, job, attempt);
      return 'failed';
    }

    stripForcedFields(result.completion, job.request);
    const completion = whiteLabel(result.completion, { id: `chatcmpl-${job.id.slice(4)}`, model: job.model });
    const { prompt_tokens, completion_tokens } = result.usage;
    const done: JobCompletion = {
      ...attempt,
      result: completion,
      usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
      cost: actualCharge(
        prompt_tokens,
        completion_tokens,
        hold_price_ngonka_per_token!,
        hold_markup_bps!,
        hold_amount!,
      ),
      at: ctx.clock.now(),
    };
    const succeeded = await completions.add(done);
    if (!succeeded) {
      await billCancelled(job.id, job.hold_id, done);
      return 'cancelled';
    }
    await settleRequest(ctx, deps.queues, job.hold_id, result.usage);
    await finished({
      ...job,
      status: 'succeeded',
      attempts: attempt.attempt,
      started_at: job.started_at ?? attempt.startedAt,
      result: done.result,
      usage: done.usage,
      cost_ngonka: done.cost,
      completed_at: done.at,
      error: null,
    });
    return 'succeeded';
  }

  /** End a batch line with its batch's reason (not tried, or not again); its hold goes back. */
  async function endLine(jobId: string, holdId: string, ending: EndReason, attempt?: AttemptMark) {
    const at = ctx.clock.now();
    const row = await failJob(ctx.sql, jobId, {
      status: ending,
      error: END_ERRORS[ending],
      at,
      ...(attempt ? { attempt } : {}),
    });
    await settleRequest(ctx, deps.queues, holdId, null);
    if (row) await finished(row);
  }

  /**
   * A job that ended while its node call ran (cancelled, say) is billed all the same: the node did
   * the work. Settled here rather than in a group (it is rare), so the job can show its usage,
   * answer and what it cost: nothing if its end voided the hold first.
   */
  async function billCancelled(jobId: string, holdId: string, done: JobCompletion): Promise<void> {
    // The bill and the answer it is for commit together: a worker dying between the two would
    // leave a charge for an answer no one can read.
    await settleRequestNow(ctx, deps.queues, holdId, done.usage, {
      inTransaction: (tx) => recordEndedJobBill(tx, jobId, done.usage, done.result),
    });
  }

  // A group's jobs run side by side; every one ends before the group does, so a group retried
  // after an error (see enqueueInference) never overlaps a run of itself still in flight.
  // Jobs, not groups, are what load a node and Postgres: every job of every group in hand waits
  // for one of `concurrency` slots (and stays queued until it has one).
  const concurrency = opts.concurrency ?? ctx.config.INFERENCE_CONCURRENCY;
  const slot = pLimit(concurrency);
  // The node calls under way, by job: a job cancelled while it still showed queued is not billed
  // (cancel.ts), so its call is aborted rather than left to run for nothing.
  const calls = new Map<string, AbortController>();
  const cancels = listenForJobCancels(ctx, (jobId) => calls.get(jobId)?.abort());
  const processor = async (bull: Job<Payload<'inference'>>) => {
    const ids = inferenceJobIds(parsePayload('inference', bull.data));
    const outcomes = await settleAll(ids.map((id) => slot(() => run(id))));
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
    return counts;
  };

  const worker = new Worker('inference', processor, {
    connection: redisOptionsFromUrl(ctx.config.REDIS_URL),
    prefix: bullPrefix(ctx),
    // Enough groups in hand to keep every slot busy while the next ones are fetched.
    concurrency: Math.max(1, Math.ceil(concurrency / 16)),
    // A worker that dies mid-call loses its lock after INFERENCE_LOCK_MS; the stalled check then
    // hands the job to another worker (twice at most, then it fails visibly).
    lockDuration: ctx.config.INFERENCE_LOCK_MS,
    stalledInterval: ctx.config.INFERENCE_LOCK_MS,
    maxStalledCount: 2,
  });
  // A job BullMQ gave up on without our processor deciding must still end visibly and release its
  // money: one that crashed on its last attempt, or one whose workers died mid-call more often than
  // maxStalledCount allows (BullMQ fails that with an UnrecoverableError on its next pick-up,
  // whatever attempts are left: a job that keeps killing workers is not tried forever).
  worker.on('failed', (bull, err) => {
    const noRetry = err?.name === 'UnrecoverableError'; // a stall past maxStalledCount, or a bad payload
    if (!bull) return;
    const parsed = queuePayloads.inference.safeParse(bull.data);
    const jobIds = parsed.success ? inferenceJobIds(parsed.data) : [];
    if (!noRetry && bull.attemptsMade < (bull.opts.attempts ?? 1)) {
      // Not a node's failure (those are counted per job, in run): Postgres out of reach, say.
      ctx.logger.warn(
        { err, jobIds, attempts: bull.attemptsMade },
        'inference run failed; it is tried again',
      );
      return;
    }
    if (!parsed.success) return;
    const cause = noRetry ? new Error(STALLED_OUT) : err; // a payload that parsed: a stall
    void (async () => {
      for (const id of jobIds) {
        const job = await findJob(ctx.sql, id);
        if (job && (job.status === 'queued' || job.status === 'running'))
          await fail(job.id, job.hold_id, cause, job);
        else await releaseIfEndedUnrun(id); // its worker died holding a cancelled job's hold
      }
    })().catch((e: unknown) => ctx.logger.error({ err: e }, 'failing a dead job failed'));
  });
  followWorker(worker, ctx.logger, 'inference');
  worker.on('closed', () => cancels.close());
  return worker;
}
