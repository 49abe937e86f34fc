import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from '../../shared/logger.js';

/** An answer slower than this is logged at warn. */
const SLOW_MS = 2000;

/**
 * One log line per finished request: 5xx at error, 4xx at info, a slow answer at warn, the rest at
 * debug. Cheap on the hot path: no child logger per request (pino-http made one for every request
 * even when its line was then dropped), and nothing is built unless the level is enabled. Only
 * method, path and status are logged, never headers, so no key or token can reach the log.
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
  res.once('finish', () => {
    const ms = performance.now() - started;
    const status = res.statusCode;
    const level = status >= 500 ? 'error' : status >= 400 ? 'info' : ms >= SLOW_MS ? 'warn' : 'debug';
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      {
        req: { id: requestId, method: req.method, url },
        res: { statusCode: status },
        responseTime: Math.round(ms),
      },
      'request completed',
    );
  });
}

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    logWhenFinished(logger, req, res, res.locals.requestId);
    next();
  };
}
