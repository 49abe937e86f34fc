import { createServer, type IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { bearerToken, secretMatcher } from '../bearer.js';
import { ApiError } from '../errors.js';
import { sendApiError, sendJson } from '../json-response.js';
import type { Logger } from '../logger.js';
import type { Readiness } from '../readiness.js';

/**
 * A bare /metrics listener for processes without the api role (workers, scheduler), whose own
 * counters (settlement lag, task runs) would otherwise be invisible, with the api's /healthz and
 * /readyz (when given `ready`) so an orchestrator can probe these processes the same way. The
 * probes need no token, as on the api. Returns its close function.
 */
export async function serveMetrics(
  registry: Registry,
  port: number,
  host: string,
  logger: Logger,
  opts: { token?: string | undefined; ready?: () => Promise<Readiness> } = {},
): Promise<() => Promise<void>> {
  const allowed = metricsAccess(opts.token);
  const { ready } = opts;
  const server = createServer((req, res) => {
    const path = req.method === 'GET' ? req.url?.split('?')[0] : undefined;
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (path === '/readyz' && ready) {
      ready().then(
        (r) => sendJson(res, r.status === 'ok' ? 200 : 503, r),
        (err: unknown) => {
          logger.error({ err }, 'readiness check failed');
          sendApiError(res, new ApiError('internal_error', 'Readiness could not be checked'));
        },
      );
      return;
    }
    // Refusals in the api's envelope, so a scrape reads the same whichever port it hits.
    if (path !== '/metrics')
      return sendApiError(res, new ApiError('not_found', `No route for ${req.method} ${path ?? req.url}`));
    if (!allowed(req)) return sendApiError(res, metricsTokenRequired());
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => {
        logger.error({ err }, 'metrics scrape failed');
        sendApiError(res, new ApiError('internal_error', 'The metrics could not be read'));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return () => new Promise((resolve) => server.close(() => resolve()));
}

/** The 401 of a scrape without METRICS_TOKEN's bearer, on the api's /metrics and on this listener. */
export const metricsTokenRequired = () =>
  new ApiError('authentication_error', 'Metrics token required', {}, { 'www-authenticate': 'Bearer' });

/** Who may scrape: anyone without a METRICS_TOKEN, else only its bearer. */
export function metricsAccess(token: string | undefined): (req: IncomingMessage) => boolean {
  if (!token) return () => true;
  const matches = secretMatcher(token);
  return (req) => matches(bearerToken(req));
}
