import { END_ERRORS, type EndReason } from '../batches/end-lines.js';
import type { Context } from '../context.js';
import type { AttemptMark, JobCompletion } from '../db/queries/job-attempts.js';
import {
  failJob,
  findJob,
  type JobRow,
  openHoldOfEndedJob,
  recordEndedJobBill,
  UNFINISHED,
} from '../db/queries/jobs.js';
import { ApiError, errorBody } from '../errors.js';
import { settleRequest, settleRequestNow } from '../inference/settle-request.js';
import { upstreamToApiError } from '../inference/upstream-errors.js';
import type { Queues } from '../queues.js';

/** What a job whose workers kept dying mid-call ends with (it is not tried again). */
export const STALLED_OUT = 'The job was interrupted while running too many times and was not tried again';

/**
 * The ways an async job or batch line ends other than with an answer, each giving back (or
 * billing) its hold and then announcing the end (`finished`: webhooks, the batch's progress).
 * The inference worker's runs and its `failed` handler end jobs through these.
 */
export class JobEndings {
  constructor(
    private readonly ctx: Context,
    private readonly queues: Queues,
    private readonly finished: (job: JobRow) => Promise<void>,
  ) {}

  /**
   * Fail a job with `err` as its API.md `error` (a node's refusal, its key's 401, an upstream
   * failure after its last attempt), void its hold, and log it once.
   */
  async fail(
    jobId: string,
    holdId: string | null,
    err: unknown,
    sent: Pick<JobRow, 'model' | 'request'>,
    attempt?: AttemptMark,
  ): Promise<void> {
    const { ctx } = this;
    const { apiError, error } = jobError(err, sent, attempt, ctx.config.INFERENCE_ATTEMPTS);
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
    if (holdId) await settleRequest(ctx, this.queues, holdId, null);
    if (job) await this.finished(job);
  }

  /**
   * A job that ended while a worker held its message leaves its hold to that worker
   * (releaseQueuedJob): one that will not run it settles the hold, if still open. A job that
   * succeeded is charged the usage it recorded (its run committed the answer, then lost the
   * commit's reply or died before settling: as the stale-hold sweeper would, minutes earlier);
   * any other gives the hold back.
   */
  async settleIfEnded(jobId: string): Promise<void> {
    const ended = await openHoldOfEndedJob(this.ctx.sql, jobId);
    if (!ended) return;
    const usage = ended.status === 'succeeded' ? ended.usage : null;
    await settleRequest(this.ctx, this.queues, ended.hold_id, usage);
  }

  /**
   * A job a worker found ended before it could run it: cancelled or expired (its hold goes back),
   * or finished by an earlier run of its message that a crash or a lost commit reply cut short
   * (its hold settled as it ended). That run may have died
   * between the line's commit and waking its batch's dispatcher, which would leave the batch's
   * other lines waiting for the reconcile check (up to 10 minutes): a batch line wakes it again
   * (deduplicated: at most one more dispatcher pass when the first wake-up did happen).
   */
  async skipped(jobId: string): Promise<void> {
    await this.settleIfEnded(jobId);
    const job = await findJob(this.ctx.sql, jobId);
    if (job?.batch_id && !UNFINISHED.includes(job.status)) await this.finished(job);
  }

  /** End a batch line with its batch's reason (not tried, or not again); its hold goes back. */
  async endLine(jobId: string, holdId: string, ending: EndReason, attempt?: AttemptMark): Promise<void> {
    const row = await failJob(this.ctx.sql, jobId, {
      status: ending,
      error: END_ERRORS[ending],
      at: this.ctx.clock.now(),
      ...(attempt ? { attempt } : {}),
    });
    await settleRequest(this.ctx, this.queues, holdId, null);
    if (row) await this.finished(row);
  }

  /**
   * A job that ended while its node call ran (cancelled, say) is billed all the same: the node did
   * the work. Settled here rather than in a group (it is rare), so the job can show its usage,
   * answer and what it cost: nothing if its end voided the hold first.
   */
  async billCancelled(jobId: string, holdId: string, done: JobCompletion): Promise<void> {
    // The bill and the answer it is for commit together: a worker dying between the two would
    // leave a charge for an answer no one can read.
    await settleRequestNow(this.ctx, this.queues, holdId, done.usage, {
      inTransaction: (tx) => recordEndedJobBill(tx, jobId, done.usage, done.result),
    });
  }
}

/**
 * A failed job's stored `error`, in API.md's envelope, and the ApiError it came from (null for a
 * fault of the gateway's own). The stored request is what the node was sent: its model is the
 * node's name for the job's.
 */
function jobError(
  err: unknown,
  sent: Pick<JobRow, 'model' | 'request'>,
  attempt: AttemptMark | undefined,
  maxAttempts: number,
): { apiError: ApiError | null; error: Record<string, unknown> } {
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
  const triedOut = attempt !== undefined && attempt.attempt >= maxAttempts;
  if (
    triedOut &&
    attempt.attempt > 1 &&
    (error.type === 'upstream_error' || error.type === 'upstream_unavailable')
  )
    error.message = `${String(error.message).replace(/; retry shortly$/, '')} (tried ${attempt.attempt} times)`;
  return { apiError, error };
}
