import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from '../../shared/logger.js';

/** An answer slower than this is logged at warn. */
const SLOW_MS = 2000;

/** Where the error middleware leaves a request's unexpected error for its access line. */
const FAILURE = Symbol('failure');
type Failed = ServerResponse & { [FAILURE]?: unknown };

/**
 * The error a request failed with (a bug, Postgres or Redis out of reach), logged by its access
 * line, as pino-http logs `res.err`: one error line per failed request, carrying the stack, the
 * request id, the route and the status, not an error line and an access line for the same failure.
 * False when the response has already closed (its line is written or will not be): the caller
 * logs the error itself.
 */
export function noteFailure(res: ServerResponse, err: unknown): boolean {
  if (res.destroyed || res.writableFinished) return false;
  (res as Failed)[FAILURE] = err;
  return true;
}

/**
 * One log line per request: a failure noted by the error middleware (with its stack) or any 5xx at
 * error, 4xx at info, a slow answer at warn, the rest at debug. Written when the response closes,
 * so a failure whose client hung up before the answer is still logged (a request that was simply
 * abandoned is not). Cheap on the hot path: no child logger per request (pino-http made one for
 * every request even when its line was then dropped), and nothing is built unless the level is
 * enabled. Only method, path and status are logged, never headers, so no key or token can reach
 * the log.
 */
export function logWhenFinished(
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): void {
  const started = performance.now();
  // Taken now: routers rewrite req.url on the way down.
  const url = (req.url ?? '').split('?')[0];
  res.once('close', () => {
    const err = (res as Failed)[FAILURE];
    if (err === undefined && !res.writableFinished) return;
    const ms = performance.now() - started;
    const status = res.statusCode;
    const level =
      err !== undefined || status >= 500
        ? 'error'
        : status >= 400
          ? 'info'
          : ms >= SLOW_MS
            ? 'warn'
            : 'debug';
    if (!logger.isLevelEnabled(level)) return;
    const line = {
      requestId,
      req: { method: req.method, url },
      res: { statusCode: status },
      responseTime: Math.round(ms),
    };
    if (err === undefined) logger[level](line, 'request completed');
    else logger[level]({ ...line, err }, 'request errored');
  });
}

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    logWhenFinished(logger, req, res, res.locals.requestId);
    next();
  };
}
