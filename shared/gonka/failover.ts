import type { Logger } from '../logger.js';
import type { NodeInfo } from './discovery.js';
import { GonkaStreamError, GonkaUnavailableError, GonkaUpstreamError } from './errors.js';
import type { NodePool } from './node-pool.js';

export interface FailoverOptions {
  pool: NodePool;
  /** Only nodes serving this model are tried. */
  model?: string;
  maxAttempts: number;
  /** Each attempt's own limit; the attempt counts as failed when it passes. */
  attemptTimeoutMs: number;
  /** No new attempt starts after this much time, and none runs past it. */
  deadlineMs: number;
  /** The caller's signal: an abort ends everything at once and is not blamed on the node. */
  signal?: AbortSignal;
  /** Where a failed node is logged: read only then (a request's context makes its logger on first use). */
  log?: { readonly logger?: Logger };
  /**
   * The winning node's verdict waits for `Served.verdict` (a stream: only its end says whether the
   * node served it). Otherwise an answer is the node's success at once.
   */
  deferVerdict?: boolean;
}

/** How a served call ended for the node: it served it, it failed, or nothing was learned (the caller left). */
export type Verdict = 'ok' | 'failed' | 'none';

export interface Served<T> {
  value: T;
  node: NodeInfo;
  /** Aborts the winning attempt's request (a stream uses it to close the upstream connection). */
  controller: AbortController;
  /** Stops forwarding the caller's abort to `controller`; call when the response is finished. */
  detach(): void;
  /** With `deferVerdict`, tells the pool how the call ended (once; later calls are ignored). */
  verdict(v: Verdict): void;
}

/** What the operator is told when a node refuses the gateway rather than the request. */
export const REFUSED = {
  account:
    'gonka node refused the gateway’s Gonka account: it cannot cover the request’s escrow, or is not on chain: top up the account of GONKA_PRIVATE_KEY',
  credentials:
    'gonka node refused the gateway’s credentials: check GONKA_API_KEY or GONKA_PRIVATE_KEY, in signed mode the clock and the transfer address GONKA_NODES gives the node',
  signature:
    'gonka node refused the request’s signature as out of its time window or used already: check this host’s clock (NTP); a stalled chain does this too',
} as const;

export class AttemptTimeoutError extends Error {
  override name = 'AttemptTimeoutError';
}

/** Statuses that mean "this node, not this request": 429 capacity, 5xx (503 = no executors). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Runs `run` against one node after another until one succeeds. `run` throws a non-retryable
 * GonkaUpstreamError for answers another node would repeat (4xx); anything else it throws (a
 * retryable GonkaUpstreamError, a connection error, a timeout) fails over. Every pick is reported
 * back to the pool exactly once.
 */
export async function withFailover<T>(
  opts: FailoverOptions,
  run: (node: NodeInfo, signal: AbortSignal, controller: AbortController) => Promise<T>,
): Promise<Served<T>> {
  const { pool, signal } = opts;
  const deadline = performance.now() + opts.deadlineMs;
  const tried = new Set<string>();
  let last: GonkaUpstreamError | undefined;

  for (let attempt = 1; attempt <= opts.maxAttempts; attempt++) {
    if (signal?.aborted) throw signal.reason;
    const remaining = deadline - performance.now();
    if (remaining <= 0) break;
    const node = pool.pick(tried, opts.model);
    if (!node) break;
    tried.add(node.url);

    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const detach = () => signal?.removeEventListener('abort', onAbort);
    const timer = setTimeout(
      () => controller.abort(new AttemptTimeoutError(`no answer from ${node.url} in time`)),
      Math.min(opts.attemptTimeoutMs, remaining),
    );
    const started = performance.now();
    try {
      const value = await run(node, controller.signal, controller);
      const latencyMs = performance.now() - started;
      let pending = opts.deferVerdict === true;
      if (pending) pool.answering(node.url);
      else pool.success(node.url, latencyMs);
      const verdict = (v: Verdict) => {
        if (!pending) return;
        pending = false;
        if (v === 'ok') pool.success(node.url, latencyMs);
        else if (v === 'failed') pool.failure(node.url);
        else pool.release(node.url);
      };
      return { value, node, controller, detach, verdict };
    } catch (err) {
      detach();
      if (signal?.aborted) {
        pool.release(node.url);
        throw signal.reason;
      }
      const refusal = err instanceof GonkaUpstreamError ? err.refusal : null;
      if (refusal === 'account' || refusal === 'credentials' || refusal === 'signature') {
        // The node refused the gateway itself: said to the operator, for whom it is to mend. A wrong
        // key, a clock off or an account short, every node refuses, within the retry budget; but one
        // node's own refusal (a transfer address configured wrong for it) sent every request to it
        // and failed it while the others idled (gonka32). The next attempt signs afresh, for another node.
        if (refusal === 'account') pool.refusedAccount(node.url);
        else pool.refusedGateway(node.url);
        last = err as GonkaUpstreamError;
        const due = pool.refusalToLog(node.url, refusal);
        if (due)
          opts.log?.logger?.error(
            {
              node: node.url,
              status: last.status,
              attempt,
              err: last.message,
              ...(due.suppressed ? { notLoggedSince: due.suppressed } : {}),
            },
            REFUSED[refusal],
          );
        continue;
      }
      if (err instanceof GonkaUpstreamError && !err.retryable) {
        // The node is fine; the request is not. Another node would say the same.
        pool.success(node.url, performance.now() - started);
        throw err;
      }
      pool.failure(node.url);
      last = toUpstreamError(err, node.url);
      opts.log?.logger?.warn(
        { node: node.url, status: last.status, attempt, err: last.message },
        'gonka node failed',
      );
    } finally {
      clearTimeout(timer);
    }
  }

  if (!last) {
    const what = opts.model ? ` for model ${opts.model}` : '';
    throw new GonkaUnavailableError(`no Gonka node available${what}`, opts.model);
  }
  throw new GonkaUpstreamError(
    `Gonka upstream failed after ${tried.size} attempt(s): ${last.message}`,
    last.status,
    last.body,
    true,
    tried.size,
    { cause: last, timedOut: last.timedOut, refusal: last.refusal },
  );
}

function toUpstreamError(err: unknown, url: string): GonkaUpstreamError {
  if (err instanceof GonkaUpstreamError) return err;
  // It answered 200, then broke or stalled before generating: a node failure (502), not capacity.
  if (err instanceof GonkaStreamError)
    return new GonkaUpstreamError(err.message, 200, null, true, 1, { cause: err, timedOut: err.timedOut });
  const reason =
    err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new GonkaUpstreamError(`${url}: ${reason}`, null, null, true, 1, {
    cause: err,
    timedOut: err instanceof AttemptTimeoutError,
  });
}
