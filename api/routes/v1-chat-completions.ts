import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { holdWriterFor } from '../../shared/admission/hold-writer.js';
import type { Context } from '../../shared/context.js';
import type { ChildKeyIdentity } from '../../shared/db/queries/admission-state.js';
import { stripForcedFields } from '../../shared/gonka/index.js';
import { admitChat } from '../../shared/inference/admit-chat.js';
import {
  type ChatCompletionBody,
  chatCompletionBody,
  type PreparedChat,
  prepareChat,
} from '../../shared/inference/chat-request.js';
import { giveBackRpmIfNoCapacity, settleServed } from '../../shared/inference/settle-request.js';
import { upstreamToApiError } from '../../shared/inference/upstream-errors.js';
import { completionId, whiteLabel } from '../../shared/inference/white-label.js';
import { sendJson } from '../../shared/json-response.js';
import type { Queues } from '../../shared/queues.js';
import type { Upstream } from '../../shared/upstream.js';
import { parse } from '../../shared/validate.js';
import {
  refusedBeforeAdmission,
  setRateLimitHeaders,
  setRateLimitHeadersSlotBack,
} from '../middleware/child-key.js';
import { requestContext } from '../request-context.js';
import { ClientGone, ServerStopping, stoppingError, syncCallSignal } from '../stopping.js';
import { streamChat, syncHoldTtlMs } from './v1-chat-stream.js';

export interface ChatDeps {
  upstream: Upstream;
  queues: Queues;
}

/** POST /v1/chat/completions in the /v1 router (the api's fast path serves it too: fast-v1.ts). */
export function chatCompletions(ctx: Context, deps: ChatDeps): RequestHandler {
  return (req, res) =>
    serveChatCompletion(requestContext(ctx, res), deps, res.locals.childKey, req.body, res);
}

/**
 * POST /v1/chat/completions, the synchronous path: admit (hold the worst case), call a node, answer
 * (JSON or SSE), then hand the actual usage to settlement.
 */
export async function serveChatCompletion(
  ctx: Context,
  deps: ChatDeps,
  key: ChildKeyIdentity,
  input: unknown,
  res: ServerResponse,
): Promise<void> {
  let body: ChatCompletionBody;
  let chat: PreparedChat;
  try {
    body = parse(chatCompletionBody, input);
    chat = prepareChat(body, deps.upstream.models, ctx.config);
  } catch (err) {
    throw await refusedBeforeAdmission(ctx, key, res, err);
  }
  const admission = await admitChat(ctx, key, chat, {
    holdTtlMs: syncHoldTtlMs(ctx.config),
    // A relaxed grouped insert (see insertSyncHolds for what that risks, holdWriterFor for the
    // groups), running while the node works. The answer does not wait for it: with a fast node the
    // write is the slower of the two, and a request served whose write failed is billed all the
    // same (settleServed hands settlement the hold's terms).
    write: (h) => holdWriterFor(ctx.sql, ctx.config.SYNC_HOLD_WRITE_WAIT_MS).add(h),
    background: true,
  });
  setRateLimitHeaders(res, admission.rateLimit);
  const label = { id: completionId(admission.hold.id), model: chat.model.id };

  if (body.stream) {
    await streamChat(ctx, deps, { res, body, chat, admission, label });
    return;
  }

  let result: Awaited<ReturnType<typeof deps.upstream.client.chat>>;
  // Stopped when its client goes, or when the api's shutdown stops node calls past its drain.
  const call = syncCallSignal(res);
  try {
    // Within its hold's life, as a stream is: past it the sweeper may void the hold (then unbilled).
    const deadlineMs = ctx.config.SYNC_STREAM_MAX_SECONDS * 1000;
    result = await deps.upstream.client.chat(chat.upstreamBody, {
      log: ctx,
      deadlineMs,
      signal: call.signal,
    });
  } catch (err) {
    void settleServed(ctx, deps.queues, admission, null); // never rejects; the error need not wait
    if (err instanceof ClientGone) return; // nobody to answer, nothing billed
    if (err instanceof ServerStopping) throw stoppingError('request');
    const refusal = upstreamToApiError(err, chat.model) ?? err;
    if (giveBackRpmIfNoCapacity(ctx, admission, refusal))
      setRateLimitHeadersSlotBack(res, admission.rateLimit);
    throw refusal;
  } finally {
    call.done();
  }
  stripForcedFields(result.completion, body);
  sendJson(res, 200, whiteLabel(result.completion, label));
  // After the answer: the client does not wait for the books.
  await settleServed(ctx, deps.queues, admission, result.usage);
}
