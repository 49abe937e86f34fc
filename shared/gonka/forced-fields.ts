import type { TokenUsage } from './protocol.js';

/**
 * Gonka nodes force `stream_options.include_usage`, `logprobs` and `top_logprobs: 5`. The gateway needs the
 * usage to bill, but must hand the client only what it asked for.
 */

type Json = Record<string, unknown>;

/**
 * Puts the client's answer in OpenAI's shape, in place (the object is freshly parsed and owned by
 * the caller; copying every chunk would cost on the hot path). Every choice has `logprobs`: the
 * node's only when the client set `logprobs: true` (each token's alternatives cut to its
 * `top_logprobs`), else null, as OpenAI sends it. A stream chunk
 * has `usage` only when the client asked (`stream_options.include_usage`), then null on every chunk
 * but the usage chunk, as OpenAI's; otherwise `drop` is true for a usage-only chunk (`choices: []`).
 * The caller reads usage for billing before calling this.
 */
export function stripForcedFields(obj: Json, clientBody: Json): { drop: boolean } {
  const choices = obj.choices;
  if (!Array.isArray(choices)) return { drop: false };
  const logprobs = clientBody.logprobs === true;
  // Nodes force five alternatives per token; OpenAI sends what `top_logprobs` asked (none unset).
  const top = typeof clientBody.top_logprobs === 'number' ? clientBody.top_logprobs : 0;
  for (const c of choices) {
    if (!c || typeof c !== 'object') continue;
    const choice = c as Json;
    choice.logprobs = logprobs ? (choice.logprobs ?? null) : null;
    if (choice.logprobs) trimTopLogprobs(choice.logprobs as Json, top);
  }
  if (obj.object === 'chat.completion.chunk') {
    const so = clientBody.stream_options as Json | null | undefined;
    if (so?.include_usage === true) obj.usage ??= null;
    else if (obj.usage !== undefined) {
      // Some servers put usage on the last content chunk instead of a chunk of its own.
      if (choices.length === 0) return { drop: true };
      delete obj.usage;
    }
  }
  return { drop: false };
}

/** Each token's alternatives cut to `top`, in place (`content` and `refusal` hold tokens). */
function trimTopLogprobs(logprobs: Json, top: number): void {
  for (const list of [logprobs.content, logprobs.refusal]) {
    if (!Array.isArray(list)) continue;
    for (const token of list as Json[]) {
      const alts = token?.top_logprobs;
      if (Array.isArray(alts) && alts.length > top) alts.length = top;
    }
  }
}

/**
 * Whether a stream chunk carries generated tokens: a choice whose delta holds anything but its role
 * (text, a tool call's pieces, a reasoning model's reasoning, a refusal). Billing a stream that
 * broke before its usage chunk counts these: the simulator emits exactly one token per such chunk,
 * and real nodes stream one token (or more) per chunk too, so the count never over-bills.
 */
export function isContentChunk(chunk: Json): boolean {
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return false;
  for (const c of choices) {
    const delta = (c as { delta?: unknown } | null)?.delta;
    if (!delta || typeof delta !== 'object') continue;
    for (const [k, v] of Object.entries(delta)) {
      if (k === 'role' || v === null || v === undefined) continue;
      if ((typeof v === 'string' || Array.isArray(v)) && v.length === 0) continue;
      return true;
    }
  }
  return false;
}

/**
 * Whether a stream chunk shows the node answering: generated tokens (isContentChunk), a finished
 * choice, or the usage. Until one comes a stream may still be failed over (nothing of it reached
 * the client).
 */
export function isAnswerChunk(chunk: Json): boolean {
  if (chunk.usage !== undefined && chunk.usage !== null) return true;
  if (isContentChunk(chunk)) return true;
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return false;
  return choices.some((c) => {
    const reason = (c as { finish_reason?: unknown } | null)?.finish_reason;
    return reason !== undefined && reason !== null;
  });
}

export function countContentChunks(chunks: Iterable<Json>): number {
  let n = 0;
  for (const c of chunks) if (isContentChunk(c)) n++;
  return n;
}

/**
 * The most tokens one answer may claim of either kind: what a hold's `prompt_tokens` and
 * `completion_tokens` (Postgres integer) can record. No model answers near it; a node that claims
 * more is broken or hostile, and its usage could never be settled.
 */
export const MAX_USAGE_TOKENS = 2 ** 31 - 1;

const isTokenCount = (n: unknown): n is number =>
  Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= MAX_USAGE_TOKENS;

/** Reads an OpenAI `usage` object, or null when it is missing or malformed. */
export function readUsage(value: unknown): TokenUsage | null {
  if (!value || typeof value !== 'object') return null;
  const u = value as { prompt_tokens?: unknown; completion_tokens?: unknown };
  const p = u.prompt_tokens;
  const c = u.completion_tokens;
  if (!isTokenCount(p) || !isTokenCount(c)) return null;
  return { prompt_tokens: p, completion_tokens: c };
}
