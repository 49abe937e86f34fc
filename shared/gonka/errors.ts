/**
 * Failures of the Gonka client. The caller maps them to API errors (`upstream_error` 502,
 * `upstream_unavailable` 503); nothing here knows about the gateway's envelope.
 */

/** No node could even be tried: the pool is empty, every breaker is open, or no node serves the model. */
export class GonkaUnavailableError extends Error {
  override name = 'GonkaUnavailableError';
  constructor(
    message: string,
    readonly model?: string,
  ) {
    super(message);
  }
}

/**
 * What a node's refusal says about the gateway rather than about the request (decentralized-api's
 * post_chat_handler, whose errors read `{"error": "<message>"}`):
 * - `signature`: the timestamp is outside the node's window (400 "signature is too old" / "in the
 *   future": the host's clock, or a stalled chain) or the signature was used already (400 "AuthKey
 *   has already been used"): a fresh signature to another node may pass;
 * - `transfer-agent`: this node may not act as transfer agent (403 "Transfer Agent not allowed",
 *   the chain's allow-list): another node may;
 * - `account`: the gateway's own Gonka account cannot cover the escrow (402) or is not on chain
 *   (404 "account not found"): every node would say so;
 * - `credentials`: the node refused who we are (401, or another 403): every node would;
 * - `node`: a fault between the transfer agent and its executor (a prompt hash they disagree on):
 *   another node may serve it;
 * - `unserved`: no executor for a model the gateway lists (404 "model not found"): the chain's
 *   state, which every node would report, so no verdict on this node and no other tried; a 503.
 * The executor a node forwards to checks the timestamp again, a hop later ("Request timestamp is
 * too old"): a signature refusal too.
 */
export type GatewayRefusal = 'signature' | 'transfer-agent' | 'account' | 'credentials' | 'node' | 'unserved';

/**
 * A refusal that says the network cannot serve the model now, for a reason an operator mends (a
 * top-up of the gateway's Gonka account) or the chain's state changes: no verdict on the request,
 * which a client hears as no capacity and a job waits out.
 */
export function networkCannotServe(refusal: GatewayRefusal | null): boolean {
  return refusal === 'account' || refusal === 'unserved';
}

export function gatewayRefusal(status: number, message: string): GatewayRefusal | null {
  if (status === 400) {
    if (
      /AuthKey has already been used|signature is too old|signature is in the future|timestamp is too old|timestamp is in the future/i.test(
        message,
      )
    )
      return 'signature';
    return /Prompt hash (mismatch|is missing)|Failed to compute prompt hash/i.test(message) ? 'node' : null;
  }
  if (status === 401) return 'credentials';
  if (status === 402) return 'account';
  if (status === 403) return /Transfer Agent not allowed/i.test(message) ? 'transfer-agent' : 'credentials';
  if (status === 404) {
    if (/account not found|participant not found/i.test(message)) return 'account';
    if (/^model not found/i.test(message)) return 'unserved';
  }
  return null;
}

/**
 * A node answered with an error, or every attempt failed. `status` is the last HTTP status seen
 * (null when the last failure was a connection error or a timeout); `retryable` is false for a
 * 4xx other than 429, which another node would answer the same way (but see `refusal`).
 */
export class GonkaUpstreamError extends Error {
  override name = 'GonkaUpstreamError';
  constructor(
    message: string,
    readonly status: number | null,
    /** The node's response body (parsed JSON when it was JSON), for logs and for passing a 4xx through. */
    readonly body: unknown,
    readonly retryable: boolean,
    readonly attempts = 1,
    options?: { cause?: unknown; timedOut?: boolean; refusal?: GatewayRefusal | null },
  ) {
    super(message, options);
    this.timedOut = options?.timedOut ?? false;
    this.refusal = options?.refusal ?? null;
  }

  /** The last attempt got no answer in its time (status is then null). */
  readonly timedOut: boolean;
  /** The node refused the gateway (its signature, account or credentials), not the request. */
  readonly refusal: GatewayRefusal | null;
}

/**
 * A stream that had started (HTTP 200) broke before `data: [DONE]`: the socket was cut, the
 * inactivity timeout fired, or a line was not JSON. Chunks already yielded are real output.
 */
export class GonkaStreamError extends Error {
  override name = 'GonkaStreamError';
  constructor(
    message: string,
    readonly node: string,
    options?: { cause?: unknown; timedOut?: boolean },
  ) {
    super(message, options);
    this.timedOut = options?.timedOut ?? false;
  }

  /** The node stopped sending (no chunk in time), rather than cutting the stream or erring. */
  readonly timedOut: boolean;
}
