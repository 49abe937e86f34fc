import { createHash } from 'node:crypto';

/**
 * Deterministic completions with exact token accounting, so tests can assert usage and cost.
 *
 * Token rules (the contract the gateway's billing tests rely on):
 * - prompt_tokens = Σ over messages of ceil(utf8 bytes of the message's text / 4). A message's text is
 *   its string `content`, or the `text` of its content parts. Every UTF-8 character is at most 4
 *   bytes, so prompt_tokens ≤ the character count of the contents ≤ their bytes: a hold estimated
 *   by Gonka's escrow rule (bytes, pricing.promptEscrowBytes) never under-counts.
 * - completion_tokens = number of words generated = min(max_tokens, L) where L is 8..64 drawn from
 *   a hash of the messages (max_tokens defaults to 256). One word is one token and, when
 *   streaming, one chunk.
 */

export const DEFAULT_SIM_MAX_TOKENS = 256;

// Never the network's name: white-label checks scan completions for it.
const WORDS = [
  'lumen',
  'node',
  'token',
  'epoch',
  'block',
  'proof',
  'compute',
  'model',
  'weight',
  'inference',
  'stream',
  'chunk',
  'ledger',
  'hold',
  'settle',
  'window',
  'signal',
  'answer',
  'quick',
  'steady',
  'bright',
  'calm',
  'river',
  'stone',
  'cloud',
  'forest',
  'tundra',
  'vector',
  'matrix',
  'kernel',
  'packet',
  'socket',
  'buffer',
  'cursor',
  'thread',
  'engine',
  'sensor',
  'harbor',
  'meadow',
  'summit',
  'orbit',
  'prism',
  'ember',
  'cobalt',
  'amber',
  'quartz',
  'willow',
  'falcon',
  'lantern',
  'compass',
  'anchor',
  'beacon',
  'canyon',
  'delta',
  'glacier',
  'horizon',
  'island',
  'jungle',
  'lagoon',
  'mosaic',
  'nectar',
  'oasis',
  'pepper',
  'ripple',
];

export interface SimMessage {
  role: string;
  content?: unknown;
}

/** The text of a message: string content, or the concatenated `text` of content parts. */
export function messageText(m: SimMessage): string {
  const c = m.content;
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  let out = '';
  for (const part of c) {
    if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      out += (part as { text: string }).text;
    }
  }
  return out;
}

export function promptTokens(messages: readonly SimMessage[]): number {
  let total = 0;
  for (const m of messages) total += Math.ceil(Buffer.byteLength(messageText(m), 'utf8') / 4);
  return total;
}

export interface SimCompletion {
  words: string[];
  promptTokens: number;
  completionTokens: number;
  /** 'length' when max_tokens cut the answer short. */
  finishReason: 'stop' | 'length';
}

export function simulateCompletion(messages: readonly SimMessage[], maxTokens?: number): SimCompletion {
  const h = createHash('sha256');
  for (const m of messages) h.update(m.role).update('\0').update(messageText(m)).update('\0');
  const seed = h.digest();
  const natural = 8 + ((seed[0] ?? 0) % 57);
  const limit = maxTokens ?? DEFAULT_SIM_MAX_TOKENS;
  const n = Math.min(limit, natural);
  const words: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const b = seed[1 + (i % 31)] ?? 0;
    words[i] = WORDS[(b + i * 7) % WORDS.length] ?? 'lumen';
  }
  return {
    words,
    promptTokens: promptTokens(messages),
    completionTokens: n,
    finishReason: n < natural ? 'length' : 'stop',
  };
}

/** A word as streamed: every word after the first carries its leading space, so chunks concatenate. */
export function wordPiece(words: readonly string[], i: number): string {
  const w = words[i] ?? '';
  return i === 0 ? w : ` ${w}`;
}
