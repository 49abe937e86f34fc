import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Context } from '../../shared/context.js';
import { errorBody } from '../../shared/errors.js';
import { type ChatStream, stripForcedFields, type TokenUsage } from '../../shared/gonka/index.js';
import type { ChatCompletionBody, PreparedChat } from '../../shared/inference/chat-request.js';
import { settleRequest, voidUnserved } from '../../shared/inference/settle-request.js';
import { upstreamToApiError } from '../../shared/inference/upstream-errors.js';
import { whiteLabel } from '../../shared/inference/white-label.js';
import { estimatePromptTokens } from '../../shared/pricing.js';
import type { ChatDeps } from './v1-chat-completions.js';

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
    holdId: string;
    /** The hold's write (admit's `recorded`): awaited before the first byte is sent. */
    recorded: Promise<void>;
    label: { id: string; model: string };
  },
): Promise<void> {
  const { res, body, chat, holdId, recorded, label } = args;
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new Error('client closed the connection'));
  });

  let stream: ChatStream;
  try {
    stream = await deps.upstream.client.chatStream(chat.upstreamBody, { signal: abort.signal });
  } catch (err) {
    await voidUnserved(ctx, deps.queues, holdId, recorded);
    throw upstreamToApiError(err, chat.model.id) ?? err;
  }
  try {
    await recorded;
  } catch (err) {
    abort.abort(err); // unrecorded, the request cannot be billed: stop the node and answer the error
    throw err;
  }

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  try {
    for await (const chunk of stream.chunks) {
      if (stripForcedFields(chunk, body).drop) continue;
      if (!res.write(`data: ${JSON.stringify(whiteLabel(chunk, label))}\n\n`)) {
        await once(res, 'drain', { signal: abort.signal });
      }
    }
    res.end('data: [DONE]\n\n');
  } catch (err) {
    if (!abort.signal.aborted) {
      ctx.logger.warn({ err, holdId }, 'upstream stream broke');
      const apiError = upstreamToApiError(err, chat.model.id);
      if (apiError) res.write(`data: ${JSON.stringify(errorBody(apiError))}\n\n`);
      res.end();
    }
  } finally {
    await settleRequest(ctx, deps.queues, holdId, billableUsage(stream, body));
  }
}

function billableUsage(stream: ChatStream, body: ChatCompletionBody): TokenUsage | null {
  const reported = stream.usage();
  if (reported) return reported;
  const generated = stream.contentChunks();
  if (generated === 0) return null;
  return { prompt_tokens: estimatePromptTokens(body.messages), completion_tokens: generated };
}
