import { type Admission, type AdmitInput, admit } from '../admission/admit.js';
import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { holdEstimate } from '../pricing.js';
import type { PreparedChat } from './chat-request.js';

/** What differs between sync chat, an async job and a batch line: how long and how the hold is kept. */
export type AdmitChatOptions = Pick<
  AdmitInput,
  'holdTtlMs' | 'requestId' | 'write' | 'background' | 'countRpm'
>;

/**
 * Admit one chat request (DESIGN.md "Estimate"): the hold is `(prompt escrow bytes + max_tokens) ×
 * price × markup` (pricing.ts promptEscrowBytes: Gonka's escrow rule, each message's UTF-8 bytes plus
 * one) at the model's current node price, and that price and markup are fixed on the hold for
 * settlement. The one place sync chat, jobs and batch lines size and take their holds.
 */
export function admitChat(
  ctx: Context,
  key: ChildKeyIdentity,
  chat: PreparedChat,
  opts: AdmitChatOptions,
): Promise<Admission> {
  const price = chat.model.upstreamPricePerToken;
  const markupBps = ctx.config.PRICE_MARKUP_BPS;
  return admit(ctx, {
    key,
    estimate: holdEstimate(chat.upstreamBody.messages, chat.maxTokens, price, markupBps),
    model: chat.model.id,
    pricePerToken: price,
    markupBps,
    ...opts,
  });
}
