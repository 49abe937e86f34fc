import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Admission } from '../../shared/admission/admit.js';
import type { Config } from '../../shared/config.js';
import type { Context } from '../../shared/context.js';
import { ApiError, errorBody } from '../../shared/errors.js';
import { type ChatStream, stripForcedFields, type TokenUsage } from '../../shared/gonka/index.js';
import type { ChatCompletionBody, PreparedChat } from '../../shared/inference/chat-request.js';
import { giveBackRpmIfNoCapacity, settleServed } from '../../shared/inference/settle-request.js';
import { upstreamToApiError } from '../../shared/inference/upstream-errors.js';
import { whiteLabel } from '../../shared/inference/white-label.js';
import { estimatePromptTokens } from '../../shared/pricing.js';
import { setRateLimitHeadersSlotBack } from '../middleware/child-key.js';
import { ServerStopping, stoppableStream, stoppingError } from '../stopping.js';
import type { ChatDeps } from './v1-chat-completions.js';

/**
 * How long a sync chat hold stays open before the stale-hold sweeper may void it: the longest
 * stream (a non-stream call ends far sooner, at UPSTREAM_TIMEOUT_MS per attempt), then the grace a
 * settlement gets to arrive (HOLD_GRACE_SECONDS), as for a job that ended.
 */
export const syncHoldTtlMs = (config: Config) =>
  (config.SYNC_STREAM_MAX_SECONDS + config.HOLD_GRACE_SECONDS) * 1000;

/** A stream stopped at SYNC_STREAM_MAX_SECONDS. */
class StreamTooLong extends Error {}

/**
 * The SSE half of sync chat. A client that goes away aborts the node call; whatever was generated
 * until then is billed (the node's usage when it arrived, else the content chunks seen plus an
 * estimate of the prompt); a stream that never produced a token voids the hold.
 */
export async function streamChat(
  ctx: Context,
  deps: ChatDeps,
  args: {
    res: ServerResponse;
    body: ChatCompletionBody;
    chat: PreparedChat;
    /** The admission, its hold's write in the background (settled by settleServed either way). */
    admission: Admission;
    label: { id: string; model: string };
  },
): Promise<void> {
  const { res, body, chat, admission, label } = args;
  const holdId = admission.hold.id;
  const abort = new AbortController();
  const clientGone = () => abort.abort(new Error('client closed the connection'));
  res.on('close', () => {
    if (!res.writableFinished) clientGone();
  });
  // A client that hung up during admission closed before the listener was there: no node call for
  // it (its first write would wait for a drain that never comes, holding money until the deadline).
  // (A pipelined request's response has no socket until its turn: its request's socket tells.)
  if (res.destroyed || (res.socket ?? res.req?.socket)?.destroyed) clientGone();
  // Stopped before its hold could go stale: a stream served past its hold's life would be free.
  const limitS = ctx.config.SYNC_STREAM_MAX_SECONDS;
  const deadline = setTimeout(() => abort.abort(new StreamTooLong()), limitS * 1000);
  const released = stoppableStream(abort);

  let stream: ChatStream;
  try {
    stream = await deps.upstream.client.chatStream(chat.upstreamBody, { signal: abort.signal, log: ctx });
  } catch (err) {
    clearTimeout(deadline);
    released();
    void settleServed(ctx, deps.queues, admission, null); // never rejects; the error need not wait
    const reason: unknown = abort.signal.reason;
    if (reason instanceof ServerStopping) throw stoppingError('stream');
    // The nodes had not begun to answer within the stream's whole allowance.
    if (reason instanceof StreamTooLong)
      throw new ApiError('upstream_error', 'The model did not answer in the time allowed');
    if (abort.signal.aborted) return; // nobody to answer
    const refusal = upstreamToApiError(err, chat.model) ?? err;
    if (giveBackRpmIfNoCapacity(ctx, admission, refusal))
      setRateLimitHeadersSlotBack(res, admission.rateLimit);
    throw refusal;
  }

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store', // as every /v1 answer (apiResponseHeaders); no-store implies no-cache
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let created: unknown;
  // The usage a client asked for (include_usage) and the node did not send: before an error event
  // too, so a stream billed for what it got says what that was (an SDK keeps a usage chunk that
  // comes before the error it raises, and a SaaS metering its customers from it stays in step).
  const writeUsageNotSent = () => {
    const usage = usageNotSent(stream, body);
    if (!usage) return;
    const chunk = { object: 'chat.completion.chunk', created, choices: [], usage };
    res.write(`data: ${JSON.stringify(whiteLabel(chunk, label))}\n\n`);
  };
  try {
    for await (const chunk of stream.chunks) {
      if (stripForcedFields(chunk, body).drop) continue;
      created = chunk.created;
      if (!res.write(`data: ${JSON.stringify(whiteLabel(chunk, label))}\n\n`)) {
        await once(res, 'drain', { signal: abort.signal });
      }
    }
    writeUsageNotSent();
    res.end('data: [DONE]\n\n');
  } catch (err) {
    const reason: unknown = abort.signal.reason;
    if (reason instanceof StreamTooLong || reason instanceof ServerStopping) {
      const stopped =
        reason instanceof ServerStopping
          ? stoppingError('stream')
          : new ApiError('upstream_error', `The stream reached its ${limitS} s limit and was stopped`);
      writeUsageNotSent();
      res.end(`data: ${JSON.stringify(errorBody(stopped))}\n\n`);
    } else if (!abort.signal.aborted) {
      ctx.logger.warn({ err, holdId }, 'upstream stream broke');
      const apiError = upstreamToApiError(err, chat.model);
      writeUsageNotSent();
      if (apiError) res.write(`data: ${JSON.stringify(errorBody(apiError))}\n\n`);
      res.end();
    }
  } finally {
    clearTimeout(deadline);
    released();
    await settleServed(ctx, deps.queues, admission, billableUsage(stream, body));
  }
}

/**
 * The usage chunk a client asked for (`stream_options.include_usage`) when the node sent none (a
 * node breaking Gonka's rule, which forces it, or a stream that broke before its end): what is
 * billed, as OpenAI always sends it.
 */
function usageNotSent(stream: ChatStream, body: ChatCompletionBody) {
  if (body.stream_options?.include_usage !== true || stream.usage()) return null;
  const billed = billableUsage(stream, body);
  if (!billed) return null;
  const { prompt_tokens, completion_tokens } = billed;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

function billableUsage(stream: ChatStream, body: ChatCompletionBody): TokenUsage | null {
  const reported = stream.usage();
  if (reported) return reported;
  const generated = stream.contentChunks();
  if (generated === 0) return null;
  return { prompt_tokens: estimatePromptTokens(body.messages), completion_tokens: generated };
}
