import { childKeyRefusal } from '../admission/key-standing.js';
import { batchEnding, batchEndingOf } from '../batches/end-lines.js';
import type { Context } from '../context.js';
import {
  type AttemptMark,
  completeJobs,
  type JobCompletion,
  markJobsRunning,
  readJobsToRun,
  recordAttempt,
  type StartedJobRow,
} from '../db/queries/job-attempts.js';
import type { JobRow } from '../db/queries/jobs.js';
import { GonkaUpstreamError, networkCannotServe, stripForcedFields } from '../gonka/index.js';
import { GroupCommit } from '../group-commit.js';
import { settleRequest } from '../inference/settle-request.js';
import { whiteLabel } from '../inference/white-label.js';
import { withLogFields } from '../log-context.js';
import { actualCharge } from '../pricing.js';
import type { Queues } from '../queues.js';
import type { Upstream } from '../upstream.js';
import { inferenceMessageOptions, retryPriority } from './enqueue-inference.js';
import type { JobEndings } from './job-endings.js';

/** What became of one job of an inference message: the processor counts them per message. */
export type RunOutcome = 'succeeded' | 'failed' | 'retrying' | 'skipped' | JobRow['status'];

/**
 * How much longer a job waits before its next attempt when the network cannot serve it for a reason
 * an operator mends (a top-up of the gateway's Gonka account): with the default 1 s backoff and 5
 * attempts, a minute, then 2, 4 and 8: a quarter of an hour before it fails, not 15 s.
 */
const NETWORK_WAIT = 60;

/**
 * Runs one admitted job (or batch line) on a Gonka node: start it, call a node, record the answer,
 * hand the usage to settlement. A node failure with attempts left queues the job again alone,
 * after its backoff (its row counts the attempts); the last attempt, or a request the node rejects
 * outright, fails it (JobEndings). The Postgres reads and writes of attempts that start or finish
 * together go out as one statement each (GroupCommit); a job is marked `running` only once its
 * call outlasts INFERENCE_RUNNING_MARK_MS (job-attempts.ts).
 */
export class JobRunner {
  /** The node calls under way, by job: a cancel of one still showing queued aborts it (cancel.ts). */
  readonly calls = new Map<string, AbortController>();
  private readonly starts: GroupCommit<string, StartedJobRow | null>;
  private readonly marks: GroupCommit<AttemptMark>;
  private readonly completions: GroupCommit<JobCompletion, boolean>;

  constructor(
    private readonly ctx: Context,
    private readonly deps: { upstream: Upstream; queues: Queues },
    private readonly endings: JobEndings,
    private readonly finished: (job: JobRow) => Promise<void>,
  ) {
    this.starts = new GroupCommit(async (ids) => {
      const rows = new Map((await readJobsToRun(ctx.sql, ids)).map((r) => [r.id, r]));
      return ids.map((id) => rows.get(id) ?? null);
    });
    this.marks = new GroupCommit((m) => markJobsRunning(ctx.sql, m));
    this.completions = new GroupCommit(async (done) => {
      const ids = new Set(await completeJobs(ctx.sql, done));
      return done.map((d) => ids.has(d.id));
    });
  }

  async run(jobId: string): Promise<RunOutcome> {
    const { ctx, endings } = this;
    const started = await this.starts.add(jobId);
    if (!started) {
      // Cancelled, expired or already finished: this worker will not run it.
      await endings.skipped(jobId);
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
      await endings.endLine(job.id, job.hold_id, batchEnded);
      return batchEnded;
    }
    // The row counts the attempts that were marked or ended; this is the next one.
    const attempt: AttemptMark = { id: jobId, attempt: job.attempts + 1, startedAt: ctx.clock.now() };
    if (hold_status !== 'open' || !job.hold_id) {
      await endings.fail(jobId, null, new Error('hold is not open'), job, attempt);
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
      await endings.fail(jobId, job.hold_id, refused, job, attempt);
      return 'failed';
    }

    let result: Awaited<ReturnType<Upstream['client']['chat']>>;
    const disarm = this.markIfSlow(attempt);
    const call = new AbortController();
    this.calls.set(jobId, call);
    try {
      // Its failed-over nodes are logged with the job's id.
      result = await this.deps.upstream.client
        .chat(job.request, { log: withLogFields(ctx, { jobId }), signal: call.signal })
        .finally(() => {
          // The call is over, whatever its outcome: no mark to make, nothing left to abort.
          disarm();
          this.calls.delete(jobId);
        });
    } catch (err) {
      // Cancelled while it still showed queued: the cancel ended the job and voided its hold.
      if (call.signal.aborted) return 'cancelled';
      return this.afterFailedCall(job, job.hold_id, attempt, err);
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
    const succeeded = await this.completions.add(done);
    if (!succeeded) {
      await endings.billCancelled(job.id, job.hold_id, done);
      return 'cancelled';
    }
    await settleRequest(ctx, this.deps.queues, job.hold_id, result.usage);
    await this.finished({
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

  /** A node call failed: try again later, end a batch line whose batch ended, or fail the job. */
  private async afterFailedCall(
    job: JobRow,
    holdId: string,
    attempt: AttemptMark,
    err: unknown,
  ): Promise<RunOutcome> {
    const { ctx, endings } = this;
    const lastAttempt = attempt.attempt >= ctx.config.INFERENCE_ATTEMPTS;
    // The gateway's own Gonka account short of the escrow, or a model no executor serves now, is no
    // verdict on the request: the job waits (longer: an operator's top-up takes minutes) as it waits
    // for capacity (its 503 says "retry shortly").
    const waitsForNetwork = err instanceof GonkaUpstreamError && networkCannotServe(err.refusal);
    const permanent = err instanceof GonkaUpstreamError && !err.retryable && !waitsForNetwork;
    // A batch line whose batch was cancelled or ran out of time during the call ends here, as the
    // lines the end reached did: a retry would be a node call (and a bill) no one wants any more.
    const ending = !lastAttempt && !permanent && job.batch_id ? await batchEndingOf(ctx, job.batch_id) : null;
    if (ending) {
      await endings.endLine(job.id, holdId, ending, attempt);
      return ending;
    }
    if (!lastAttempt && !permanent) {
      const ended = await this.retryLater(attempt, retryPriority(job), waitsForNetwork ? NETWORK_WAIT : 1);
      if (!ended) return 'retrying';
      // Cancelled (or expired with its batch) while the node failed it: no attempt follows and
      // nothing was served, so the hold goes back now, not minutes later when the stale-hold
      // sweeper would find it; a cancel that saw this call under way left it to this worker
      // (releaseQueuedJob). (A run of the same job that finished settles the hold itself.)
      if (ended === 'cancelled' || ended === 'expired')
        await settleRequest(ctx, this.deps.queues, holdId, null);
      return ended;
    }
    await endings.fail(job.id, holdId, err, job, attempt);
    return 'failed';
  }

  /** Marks the job running if its call is still going after INFERENCE_RUNNING_MARK_MS; returns the disarm. */
  private markIfSlow(m: AttemptMark): () => void {
    const timer = setTimeout(() => {
      this.marks
        .add(m)
        .catch((err: unknown) => this.ctx.logger.warn({ err, jobId: m.id }, 'marking a job running failed'));
    }, this.ctx.config.INFERENCE_RUNNING_MARK_MS);
    return () => clearTimeout(timer);
  }

  /**
   * A node failure with attempts left: the job alone goes back on the queue, after its backoff.
   * If the job ended during the call instead (cancelled, say), nothing is queued and that status
   * is returned.
   */
  private async retryLater(
    attempt: AttemptMark,
    priority: number,
    /** Times the usual backoff (NETWORK_WAIT for what an operator must mend). */
    slower: number,
  ): Promise<JobRow['status'] | null> {
    const { id: jobId, attempt: attempts } = attempt;
    const ended = await recordAttempt(this.ctx.sql, attempt);
    if (ended) return ended;
    const delay = this.ctx.config.INFERENCE_BACKOFF_MS * slower * 2 ** (attempts - 1);
    // The id makes the hand-off idempotent: the same attempt's retry is queued once.
    await this.deps.queues.add(
      'inference',
      { jobId },
      { delay, jobId: `${jobId}.${attempts}`, ...inferenceMessageOptions(this.ctx.config, priority) },
    );
    return null;
  }
}
