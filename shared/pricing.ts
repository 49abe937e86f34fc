import { ceilDiv } from './money.js';

/**
 * Money for one request. Prices are nGNK per token from the node; the gateway's markup is in basis
 * points. Rounding always goes up by at most 1 nGNK, so the gateway never sells below cost.
 */
export function priceTokens(tokens: bigint, pricePerToken: bigint, markupBps: number): bigint {
  return ceilDiv(tokens * pricePerMillionTokens(pricePerToken, markupBps), 1_000_000n);
}

/**
 * The client's exact rate, nGNK per million tokens: the node's price with the markup (a whole
 * number: basis points are ten-thousandths). priceTokens bills from it, so the rate /v1/models
 * publishes is the one charged.
 */
export function pricePerMillionTokens(pricePerToken: bigint, markupBps: number): bigint {
  return pricePerToken * BigInt(markupBps) * 100n;
}

/**
 * The text of every message as Gonka reads it (decentralized-api's `Message.ContentText`): a string
 * content, or the concatenated parts of type `text` (a node refuses any other part type).
 */
function* messageTexts(messages: unknown): Generator<string> {
  if (!Array.isArray(messages)) return;
  for (const m of messages) {
    const content = (m as { content?: unknown })?.content;
    if (typeof content === 'string') yield content;
    else if (Array.isArray(content)) {
      for (const part of content) {
        const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
        if (type === 'text' && typeof text === 'string') yield text;
      }
    }
  }
}

/**
 * The prompt part of a hold, by Gonka's own escrow rule (decentralized-api's handleTransferRequest:
 * each message's text plus "\n", measured with Go's `len`, so UTF-8 bytes, not characters: a
 * Chinese prompt escrows three units a character, and counting characters held a third of it).
 * A token is at least one byte of its text, so this never under-counts the text's tokens.
 */
export function promptEscrowBytes(messages: unknown): bigint {
  if (!Array.isArray(messages)) return 0n;
  let n = messages.length; // the newline after each message
  for (const text of messageTexts(messages)) n += Buffer.byteLength(text);
  return BigInt(n);
}

/** The hold: `(prompt estimate + max_tokens) × price × markup` (DESIGN.md "Estimate"). */
export function holdEstimate(
  messages: unknown,
  maxTokens: number,
  pricePerToken: bigint,
  markupBps: number,
): bigint {
  return priceTokens(promptEscrowBytes(messages) + BigInt(maxTokens), pricePerToken, markupBps);
}

/** The charge: actual tokens at the price fixed at admission, never above the hold. */
export function actualCharge(
  promptTokens: number,
  completionTokens: number,
  pricePerToken: bigint,
  markupBps: number,
  hold: bigint,
): bigint {
  const cost = priceTokens(BigInt(promptTokens + completionTokens), pricePerToken, markupBps);
  return cost < hold ? cost : hold;
}

/**
 * Prompt tokens of a stream that ended before the node reported usage: about four UTF-8 bytes a
 * token (four characters of English, one or two of Chinese or Japanese: by characters alone a
 * non-Latin prompt was billed at a third of its tokens), never more than the bytes the hold
 * assumed. (Nor more than the characters: a UTF-16 unit is at most three UTF-8 bytes.)
 */
export function estimatePromptTokens(messages: unknown): number {
  let bytes = 0;
  for (const text of messageTexts(messages)) bytes += Buffer.byteLength(text);
  return Math.ceil(bytes / 4);
}
