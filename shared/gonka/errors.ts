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
 * A node answered with an error, or every attempt failed. `status` is the last HTTP status seen
 * (null when the last failure was a connection error or a timeout); `retryable` is false for a
 * 4xx other than 429, which another node would answer the same way.
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
    options?: { cause?: unknown; timedOut?: boolean },
  ) {
    super(message, options);
    this.timedOut = options?.timedOut ?? false;
  }

  /** The last attempt got no answer in its time (status is then null). */
  readonly timedOut: boolean;
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
