import type { Context } from '../context.js';
import type { PendingLine } from '../db/queries/batch-lines.js';
import type { BatchRow } from '../db/queries/batches.js';
import { failJob } from '../db/queries/jobs.js';
import { ApiError, errorBody } from '../errors.js';
import { admitChat } from '../inference/admit-chat.js';
import { prepareChat } from '../inference/chat-request.js';
import { settleRequest } from '../inference/settle-request.js';
import { enqueueInference } from '../jobs/enqueue-inference.js';
import { JOB_HOLD_TTL_MS } from '../jobs/submit.js';
import type { Queues } from '../queues.js';
import type { Upstream } from '../upstream.js';
import { lineWriterFor } from './line-writer.js';
import { lineChat } from './parse-jsonl.js';
import { MONEY_ERRORS } from './results.js';

/** What happened to one line: it holds a slot, it ended, or dispatch must stop. */
export type LineOutcome =
  | { kind: 'queued' }
  | { kind: 'admitted'; lineId: string; holdId: string }
  | { kind: 'failed' }
  | { kind: 'skipped' }
  | { kind: 'money_refused'; error: ApiError }
  /** Dispatch stops and resumes after this: the key's RPM window is full, or no node can price the model yet. */
  | { kind: 'wait'; retryAfterMs: number }
  | { kind: 'key_refused'; error: ApiError };

/** The line stopped being pending while it was admitted: roll the admission back. */
class LineNotPending extends Error {}

/**
 * Admit one batch line exactly as a job is admitted (same Lua check-and-hold, request id = the
 * line's job id); `queueAdmittedLine` then hands it to a node. A refusal for money, a rate limit or
 * a refused key is for the caller to act on (wait, end the line, pause, or end the batch); the
 * line is still pending.
 */
export async function admitLine(
  ctx: Context,
  deps: { upstream: Upstream; queues: Queues },
  batch: BatchRow,
  line: PendingLine,
): Promise<LineOutcome> {
  // A body that is no chat request this gateway serves fails its line alone (stored unjudged).
  const judged = lineChat(line.request);
  if ('refusal' in judged) return failLine(ctx, line.id, judged.refusal);
  let chat: ReturnType<typeof prepareChat>;
  try {
    chat = prepareChat(judged.chat, deps.upstream.models, ctx.config);
  } catch (err) {
    // Before the nodes' prices are first known nothing can be admitted: the batch waits. A model
    // the nodes stopped pricing ends its lines (the rest of the batch goes on).
    if (
      err instanceof ApiError &&
      err.type === 'upstream_unavailable' &&
      deps.upstream.pricing.updatedAt === null
    )
      return { kind: 'wait', retryAfterMs: ctx.config.PRICING_REFRESH_SECONDS * 1000 };
    if (err instanceof ApiError) return failLine(ctx, line.id, err); // e.g. a model no longer served
    throw err;
  }
  try {
    const key = {
      id: batch.child_key_id,
      account_id: batch.account_id,
      management_key_id: batch.management_key_id,
    };
    const { hold } = await admitChat(ctx, key, chat, {
      holdTtlMs: JOB_HOLD_TTL_MS,
      requestId: line.id,
      countRpm: false, // paced by the batch's own slots (see AdmitInput.countRpm)
      write: async (hold) => {
        const queued = await lineWriterFor(ctx.sql).add({ hold, id: line.id, request: chat.upstreamBody });
        if (!queued) throw new LineNotPending();
      },
    });
    return { kind: 'admitted', lineId: line.id, holdId: hold.id };
  } catch (err) {
    if (err instanceof LineNotPending) return { kind: 'skipped' };
    if (!(err instanceof ApiError)) throw err;
    if (MONEY_ERRORS.includes(err.type)) return { kind: 'money_refused', error: err };
    switch (err.type) {
      case 'invalid_api_key':
        return { kind: 'key_refused', error: err };
      default:
        throw err;
    }
  }
}

/** End a line with the API.md error body of why it was refused (the error file shows it). */
export async function failLine(ctx: Context, lineId: string, err: ApiError): Promise<LineOutcome> {
  await failJob(ctx.sql, lineId, { status: 'failed', error: errorBody(err).error, at: ctx.clock.now() });
  return { kind: 'failed' };
}

/**
 * Queue an admitted line for a node. Lines queued in one go, in input order, travel in input order
 * (enqueueInference groups them), so a batch runs in the order of its file, at the batch lane's
 * `priority` (batchLinePriority). If the queue refuses, the line fails and its hold is voided at once.
 */
export async function queueAdmittedLine(
  ctx: Context,
  queues: Queues,
  line: { lineId: string; holdId: string },
  priority: number,
): Promise<LineOutcome> {
  try {
    await enqueueInference(ctx, queues, line.lineId, priority);
  } catch (err) {
    ctx.logger.error({ err, jobId: line.lineId }, 'enqueueing a batch line failed; failing the line');
    await failJob(ctx.sql, line.lineId, {
      status: 'failed',
      error: { type: 'service_unavailable', message: 'The request could not be queued' },
      at: ctx.clock.now(),
    });
    await settleRequest(ctx, queues, line.holdId, null);
    return { kind: 'failed' };
  }
  return { kind: 'queued' };
}
