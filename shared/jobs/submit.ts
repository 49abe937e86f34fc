import type { RateLimitState } from '../admission/admit.js';
import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { failJob, type JobRow, type NewJob } from '../db/queries/jobs.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { admitChat } from '../inference/admit-chat.js';
import type { PreparedChat } from '../inference/chat-request.js';
import { settleRequest } from '../inference/settle-request.js';
import type { Queues } from '../queues.js';
import { enqueueInference } from './enqueue-inference.js';
import { jobWriterFor } from './job-writer.js';

/** An async job's hold may wait in the queue and through retries; the sweeper voids it after this. */
export const JOB_HOLD_TTL_MS = 6 * 3600_000;

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
 * (grouped with other submissions, durably committed), then enqueue it. If the queue refuses, the
 * job is failed visibly and its hold voided at once, so an answer of 202 always means a job that
 * will run. The answer is built from what was written, not read back.
 */
export async function submitJob(
  ctx: Context,
  deps: { queues: Queues },
  s: SubmitJob,
): Promise<{ job: JobRow; rateLimit: RateLimitState | null }> {
  const { chat } = s;
  const jobId = s.jobId ?? newId('job');
  let job: NewJob | undefined;
  const { hold, rateLimit } = await admitChat(ctx, s.key, chat, {
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
  });
  try {
    await enqueueInference(ctx, deps.queues, jobId);
  } catch (err) {
    ctx.logger.error({ err, jobId }, 'enqueue failed; failing the job');
    await failJob(ctx.sql, jobId, {
      status: 'failed',
      error: { type: 'service_unavailable', message: 'The job could not be queued' },
      at: ctx.clock.now(),
    });
    await settleRequest(ctx, deps.queues, hold.id, null);
    throw new ApiError('service_unavailable', 'The job could not be queued; nothing was charged');
  }
  return { job: acceptedJob(job!), rateLimit };
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
