import { ApiError } from '../errors.js';
import {
  GonkaStreamError,
  GonkaUnavailableError,
  GonkaUpstreamError,
  networkCannotServe,
} from '../gonka/index.js';
import { nodeRefusal, refusalCode } from '../gonka/node-refusal.js';

/**
 * Node URLs and hosts (with or without a scheme), addresses, the upstream name of the model and
 * the network's name never reach a child key's client (white-label).
 */
export function scrub(text: string, model?: { id: string; upstream: string }): string {
  let out = text;
  // (A public id that contains the node's name already says it: replacing would double it.)
  if (model && !model.id.includes(model.upstream)) out = out.split(model.upstream).join(model.id);
  return (
    out
      // A URL up to the bracket or quote around it ("(executor http://…)"); an IPv6 host is bracketed.
      .replace(/https?:\/\/(?:\[[^\]\s]*\])?[^\s)\]}>"',;]*/g, '[upstream]')
      .replace(/\[[0-9a-f:.]*:[0-9a-f:.]*\](:\d+)?/gi, '[upstream]') // [IPv6]:port
      .replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, '[upstream]') // IPv4[:port]
      .replace(/\b(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+):\d{2,5}\b/gi, '[upstream]') // host:port
      .replace(HOST_NAME, '[upstream]')
      .replace(IPV6, (candidate) => (looksLikeIpv6(candidate) ? '[upstream]' : candidate))
      .replace(/gonka1[0-9a-z]{20,}/g, '[address]')
      .replace(/gonka/gi, 'upstream')
  );
}

/**
 * A host name without a port: one ending in a top-level name a network or the Internet uses
 * (`mlnode-3.prod.cluster.local`, `ta-7.internal.example`). Not any dotted word: a field path
 * (`messages.0.content`), a version or a model (`Qwen2.5-7B`) must stay in the message.
 */
const HOST_NAME =
  /\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.(?:local|localdomain|internal|intranet|lan|home|corp|svc|cluster|example|test|com|net|org|io|ai|dev|cloud)\b/gi;
/** Colon-separated hex groups: an IPv6 address written without brackets (`fe80::1`), or a time. */
const IPV6 = /(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])/gi;
/** An address has `::` or more groups than a time's three (`12:30:45` stays). */
const looksLikeIpv6 = (s: string) => s.includes('::') || s.split(':').length > 3;

/** What a node's own software says that is the client's to mend: its refusal of a message's content. */
const CLIENT_WORDS = /^(unsupported message content|empty message content)\b[\w\s.,:]*$/i;

/** The field a node's refusal of a message's content names in its words ("… in message 2"), as validation names it. */
function messageParam(message: string): string | null {
  const n = /\bin message (\d+)\b/i.exec(message)?.[1];
  return n === undefined ? null : `messages.${n}.content`;
}

/** Node statuses that say the request itself was wrong (too long, a bad field, a model it lacks). */
const CLIENT_FAULTS = new Set([400, 404, 413, 422]);

/** No node can serve the model now: a 503 the client may retry after a moment (Retry-After). */
export const noCapacity = (model: string) =>
  new ApiError(
    'upstream_unavailable',
    `No capacity is available for model '${model}' right now; retry shortly`,
    {},
    { 'retry-after': '1' },
  );

/**
 * A Gonka client failure → the API.md error a client sees; null when it is not one of ours.
 * `model`: the public id and the node's name for it (which a node's message may quote).
 */
export function upstreamToApiError(err: unknown, model: { id: string; upstream: string }): ApiError | null {
  if (err instanceof GonkaUnavailableError) return noCapacity(model.id);
  if (err instanceof GonkaUpstreamError) {
    // The gateway's own Gonka account cannot pay the node's escrow (no node serves until the operator
    // tops it up; the error log says so), or no executor serves a model the catalogue lists (a node's
    // 404 "model not found", the chain's state): to a client, no capacity, not its fault.
    if (networkCannotServe(err.refusal)) return noCapacity(model.id);
    // Only a refusal of the request itself is the client's to fix; a node refusing the gateway's own
    // credentials (401/403) is the gateway's fault, and its words name node internals.
    if (!err.retryable && err.refusal === null && err.status !== null && CLIENT_FAULTS.has(err.status)) {
      // Too large for the node: our words (its own may name its hosts), which say what to change.
      if (err.status === 413)
        return new ApiError('invalid_request_error', 'The request is too large for the model', {
          param: 'messages',
        });
      const said = nodeRefusal(err.body);
      // A node's own words may name its hosts in forms no scrub knows: only those a client can act
      // on pass (its refusal of a message's content); the model's own (vLLM's) pass scrubbed.
      if (!said || (!said.byModel && !CLIENT_WORDS.test(said.message)))
        return new ApiError('invalid_request_error', 'The model rejected the request', { param: null });
      const code = refusalCode(said);
      return new ApiError('invalid_request_error', scrub(said.message, model), {
        param: said.param ?? messageParam(said.message),
        ...(code ? { code } : {}),
      });
    }
    // A node took the request and did not answer in time: it failed (502), and waiting for
    // capacity would not help.
    if (err.timedOut) return new ApiError('upstream_error', 'The model did not answer in the time allowed');
    // Every node was out of capacity, had no executors, or could not be reached: nobody can serve
    // this model now (503). A node that answered with a server error failed (502).
    if (err.status === null || err.status === 429 || err.status === 503) return noCapacity(model.id);
    // No count of the nodes tried: a job's own `attempts` counts its runs, and two different
    // counts of "attempts" in one answer read as a contradiction.
    return new ApiError('upstream_error', 'The model failed to answer; retry shortly');
  }
  if (err instanceof GonkaStreamError)
    return new ApiError('upstream_error', 'The model stopped answering mid-stream');
  return null;
}
