import type { RateLimitState } from '../admission/admit.js';
import { admit } from '../admission/admit.js';
import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { failJob, findJob, insertJob, type JobRow } from '../db/queries/jobs.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { type ChatCompletionBody, prepareChat } from '../inference/chat-request.js';
import { settleRequest } from '../inference/settle-request.js';
import { holdEstimate } from '../pricing.js';
import type { Queues } from '../queues.js';
import type { Upstream } from '../upstream.js';

/** An async job's hold may wait in the queue and through retries; the sweeper voids it after this. */
export const JOB_HOLD_TTL_MS = 6 * 3600_000;

export interface SubmitJob {
  key: ChildKeyIdentity;
  request: ChatCompletionBody;
  webhookUrl: string | null;
  metadata: Record<string, unknown>;
}

/**
 * POST /v1/jobs: admit exactly like sync chat, record the job with its hold in one transaction,
 * then enqueue it. If the queue refuses, the job is failed visibly and its hold voided at once,
 * so an answer of 202 always means a job that will run.
 */
export async function submitJob(
  ctx: Context,
  deps: { upstream: Upstream; queues: Queues },
  s: SubmitJob,
): Promise<{ job: JobRow; rateLimit: RateLimitState | null }> {
  if (s.request.stream) throw ApiError.invalid('request.stream', 'async jobs cannot stream; omit stream');
  const chat = prepareChat(s.request, (id) => deps.upstream.models.resolve(id), ctx.config);
  const jobId = newId('job');
  const { hold, rateLimit } = await admit(ctx, {
    key: s.key,
    estimate: holdEstimate(
      s.request.messages,
      chat.maxTokens,
      chat.model.upstreamPricePerToken,
      ctx.config.PRICE_MARKUP_BPS,
    ),
    model: chat.model.id,
    pricePerToken: chat.model.upstreamPricePerToken,
    markupBps: ctx.config.PRICE_MARKUP_BPS,
    holdTtlMs: JOB_HOLD_TTL_MS,
    requestId: jobId,
    persist: (tx, h) =>
      insertJob(tx, {
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
      }),
  });
  try {
    await deps.queues.add(
      'inference',
      { jobId },
      {
        jobId,
        attempts: ctx.config.INFERENCE_ATTEMPTS,
        backoff: { type: 'exponential', delay: ctx.config.INFERENCE_BACKOFF_MS },
      },
    );
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
  const job = await findJob(ctx.sql, jobId);
  if (!job) throw new Error(`job ${jobId} vanished`);
  return { job, rateLimit };
}
