import { createServer, type IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { bearerToken, secretMatcher } from '../bearer.js';
import { sendJson } from '../json-response.js';
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
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (!allowed(req)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => {
        logger.error({ err }, 'metrics scrape failed');
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return () => new Promise((resolve) => server.close(() => resolve()));
}

/** Who may scrape: anyone without a METRICS_TOKEN, else only its bearer. */
export function metricsAccess(token: string | undefined): (req: IncomingMessage) => boolean {
  if (!token) return () => true;
  const matches = secretMatcher(token);
  return (req) => matches(bearerToken(req));
}
