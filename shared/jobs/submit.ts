import type { RateLimitState } from '../admission/admit.js';
import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { findJob, type JobRow, type NewJob } from '../db/queries/jobs.js';
import { uniqueViolation } from '../db/unique-violation.js';
import { MadeElsewhere, type Submission } from '../idempotency.js';
import { newId } from '../ids.js';
import { admitChat } from '../inference/admit-chat.js';
import type { PreparedChat } from '../inference/chat-request.js';
import type { Queues } from '../queues.js';
import { enqueueInference } from './enqueue-inference.js';
import { jobWriterFor } from './job-writer.js';

/** An async job's hold may wait in the queue and through retries; the sweeper voids it after this. */
export const JOB_HOLD_TTL_MS = 6 * 3600_000;

/** What an Idempotency-Key on POST /v1/jobs makes (shared/idempotency.ts). */
export const jobSubmission: Submission<JobRow> = { kind: 'job', find: findJob, noun: 'Job' };

export interface SubmitJob {
  key: ChildKeyIdentity;
  /** The request as prepareChat made it (model resolved, cap set): the hold is sized for it. */
  chat: PreparedChat;
  webhookUrl: string | null;
  metadata: Record<string, unknown>;
  /** The job's id, when the caller named it first (an Idempotency-Key's claim). @default a new one */
  jobId?: string;
}

/**
 * POST /v1/jobs: admit exactly like sync chat, record the job with its hold in one statement
 * (grouped with other submissions, durably committed), then hand it to the inference queue
 * (`handedOff`). The 202 waits for the commit, not for the hand-off: the job's row is its record,
 * and the scheduler's reconciliation check queues again any live job whose message is missing, as
 * after an api that died between the two. The answer is built from what was written, not read back.
 */
export async function submitJob(
  ctx: Context,
  deps: { queues: Queues },
  s: SubmitJob,
): Promise<{ job: JobRow; rateLimit: RateLimitState | null; handedOff: Promise<void> }> {
  const { chat } = s;
  const jobId = s.jobId ?? newId('job');
  let job: NewJob | undefined;
  // A job id two submissions share (an Idempotency-Key taken over from one that was only slow):
  // the second write is refused, its reservation given back, and the caller answers with the job
  // the first wrote (MadeElsewhere).
  const { rateLimit } = await admitChat(ctx, s.key, chat, {
    holdTtlMs: JOB_HOLD_TTL_MS,
    requestId: jobId,
    write: (h) => {
      job = {
        id: jobId,
        accountId: s.key.account_id,
        managementKeyId: s.key.management_key_id,
        childKeyId: s.key.id,
        holdId: h.id,
        model: chat.model.id,
        // What the node will be sent, cap included: the hold was sized for exactly this.
        request: chat.upstreamBody,
        webhookUrl: s.webhookUrl,
        metadata: s.metadata,
        createdAt: h.createdAt,
      };
      return jobWriterFor(ctx.sql).add({ hold: h, job });
    },
  }).catch((err: unknown) => {
    if (isDuplicateJob(err)) throw new MadeElsewhere(jobId);
    throw err;
  });
  return { job: acceptedJob(job!), rateLimit, handedOff: handOff(ctx, deps.queues, jobId) };
}

/** When a failed hand-off is tried again, after the first; then reconciliation's check does it. */
const HANDOFF_RETRIES_MS = [1_000, 5_000, 30_000];

/**
 * Queue a recorded job for a node; never rejects (it resolves after the first try). While Redis is
 * out of reach the queue's connection holds the command until it is back (the job is late, not
 * failed); a hand-off Redis refuses (out of memory, a failover's read-only replica) is tried again
 * a few times, then left to the next
 * reconciliation check (SCHEDULER_RECONCILE_CRON), which queues every live job whose message is
 * missing: the job is delayed, never lost, and its hold stays until it runs, is cancelled or its
 * deadline passes. A hand-off that did land although it seemed to fail makes a second message:
 * the job still runs and is billed once (enqueueInference). Measured at 1,500 jobs/s offered:
 * answering before the hand-off took 1.4 ms off the median.
 */
function handOff(ctx: Context, queues: Queues, jobId: string, retry = 0): Promise<void> {
  return enqueueInference(ctx, queues, jobId).catch((err: unknown) => {
    const delay = HANDOFF_RETRIES_MS[retry];
    if (delay === undefined) {
      ctx.logger.error({ err, jobId }, 'inference hand-off failed; the reconciliation check queues the job');
      return;
    }
    ctx.logger.warn({ err, jobId, retryInMs: delay }, 'inference hand-off failed; trying again');
    // Unref'd: a process shutting down does not wait for it (the check is there for that).
    setTimeout(() => void handOff(ctx, queues, jobId, retry + 1), delay).unref();
  });
}

/** The job row as insertJobsWithHolds wrote it. */
function acceptedJob(j: NewJob): JobRow {
  return {
    id: j.id,
    account_id: j.accountId,
    management_key_id: j.managementKeyId,
    child_key_id: j.childKeyId,
    hold_id: j.holdId,
    batch_id: null,
    custom_id: null,
    line_no: null,
    status: 'queued',
    model: j.model,
    request: j.request,
    result: null,
    error: null,
    usage: null,
    cost_ngonka: null,
    webhook_url: j.webhookUrl,
    metadata: j.metadata,
    attempts: 0,
    created_at: j.createdAt,
    started_at: null,
    completed_at: null,
  };
}

/** The job's id (and its hold's request id, the same) is already taken: by the other submission. */
const isDuplicateJob = (err: unknown) => {
  const constraint = uniqueViolation(err);
  return constraint === 'jobs_pkey' || constraint === 'holds_request_id_key';
};
