import type { RequestHandler } from 'express';
import { holdWriterFor } from '../../shared/admission/hold-writer.js';
import type { Context } from '../../shared/context.js';
import { stripForcedFields } from '../../shared/gonka/index.js';
import { admitChat } from '../../shared/inference/admit-chat.js';
import {
  type ChatCompletionBody,
  chatCompletionBody,
  prepareChat,
} from '../../shared/inference/chat-request.js';
import { settleRequest } from '../../shared/inference/settle-request.js';
import { upstreamToApiError } from '../../shared/inference/upstream-errors.js';
import { whiteLabel } from '../../shared/inference/white-label.js';
import type { Queues } from '../../shared/queues.js';
import type { Upstream } from '../../shared/upstream.js';
import { setRateLimitHeaders } from '../middleware/child-key.js';
import { parse } from '../middleware/validate.js';
import { streamChat } from './v1-chat-stream.js';

/** Sync chat holds stay open at most this long before the sweeper may void them. */
const SYNC_HOLD_TTL_MS = 15 * 60_000;

export interface ChatDeps {
  upstream: Upstream;
  queues: Queues;
}

/**
 * POST /v1/chat/completions, the synchronous path: admit (hold the worst case), call a node, answer
 * (JSON or SSE), then hand the actual usage to settlement.
 */
export function chatCompletions(ctx: Context, deps: ChatDeps): RequestHandler {
  return async (req, res) => {
    const body: ChatCompletionBody = parse(chatCompletionBody, req.body);
    const chat = prepareChat(body, (id) => deps.upstream.models.resolve(id), ctx.config);
    const { hold, rateLimit } = await admitChat(ctx, res.locals.childKey, chat, {
      holdTtlMs: SYNC_HOLD_TTL_MS,
      // The client is waiting: a relaxed group commit (see insertSyncHolds for what that risks).
      write: (h) => holdWriterFor(ctx.sql).add(h),
    });
    setRateLimitHeaders(res, rateLimit);
    const label = { id: `chatcmpl-${hold.id.slice(5)}`, model: chat.model.id };

    if (body.stream) {
      await streamChat(ctx, deps, { req, res, body, chat, holdId: hold.id, label });
      return;
    }

    let result: Awaited<ReturnType<typeof deps.upstream.client.chat>>;
    try {
      result = await deps.upstream.client.chat(chat.upstreamBody);
    } catch (err) {
      await settleRequest(ctx, deps.queues, hold.id, null);
      throw upstreamToApiError(err, chat.model.id) ?? err;
    }
    stripForcedFields(result.completion, body);
    res.json(whiteLabel(result.completion, label));
    // After the answer: the client does not wait for the books.
    await settleRequest(ctx, deps.queues, hold.id, result.usage);
  };
}
