import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../../shared/logger.js';
import { observeHttpRequest } from '../../shared/metrics/registry.js';
import { CHILD_KEYS_MOUNT } from '../routes/child-keys.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

/** An answer slower than this is logged at warn (a stream's length is not slowness). */
const SLOW_MS = 2000;

/** Where the error middleware leaves a request's unexpected error for its access line. */
const FAILURE = Symbol('failure');
/** Where a /v1 request's child key is left for its access line. */
const KEY = Symbol('key');
type Failed = ServerResponse & { [FAILURE]?: unknown; [KEY]?: { id: string; account_id: string } };

/**
 * The child key a /v1 request authenticated as, for its access line: a refusal (402, 429) says
 * whose it was. Ids only, never the key.
 */
export function noteKey(res: ServerResponse, key: { id: string; account_id: string }): void {
  (res as Failed)[KEY] = key;
}

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
  /** The route's label for the request metrics, from the path as it came, once the answer is out. */
  routeOf: (url: string) => string,
): void {
  const started = performance.now();
  // Taken now: routers rewrite req.url on the way down.
  const url = (req.url ?? '').split('?')[0]!;
  res.once('close', () => {
    const err = (res as Failed)[FAILURE];
    if (err === undefined && !res.writableFinished) return;
    const ms = performance.now() - started;
    const status = res.statusCode;
    observeHttpRequest(req.method ?? '', routeOf(url), status, ms / 1000);
    const expected = status === 503;
    const level = levelOf(status, err, url, ms, res);
    if (!logger.isLevelEnabled(level)) return;
    const key = (res as Failed)[KEY];
    const line = {
      requestId,
      req: { method: req.method, url },
      res: { statusCode: status },
      responseTime: Math.round(ms),
      ...(key ? { keyId: key.id, accountId: key.account_id } : {}),
    };
    if (err === undefined) logger[level](line, 'request completed');
    else if (expected)
      logger[level]({ ...line, cause: err instanceof Error ? err.message : String(err) }, 'request refused');
    else logger[level]({ ...line, err }, 'request errored');
  });
}

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    logWhenFinished(logger, req, res, res.locals.requestId, (url) => routeLabel(req, url));
    next();
  };
}

/** An id as shared/ids.ts makes them (`job_…`, `ck_…`): folded, so the label's values stay few. */
const ID_SEGMENT = /^[a-z]+_[\w-]{6,}$/;

/** Prefixes whose requests no route reached (refused by a middleware first: a 401, a 400 body) are labelled as one. */
const PREFIXES = ['/dashboard', '/admin/queues', '/v1', '/api'];

/**
 * At most this many route labels; later ones count as `other`. The routes give a few dozen: the
 * cap only bounds what a path the folding below does not foresee could add, since every label
 * keeps its series (and their memory) for the life of the process.
 */
const MAX_ROUTE_LABELS = 300;
const labels = new Set<string>();

/**
 * A request's route for the metrics: the route's own pattern (`/v1/jobs/:id`, `/v1/models/*id`)
 * under the path its router is mounted at (ids there folded to `:id`) where a route served it
 * (Express set `req.route`), whatever id the request named, found or not; else its prefix
 * (`/v1/*`: the dashboard's files, a refused key) or `unmatched` (a client's typo or a scanner must
 * not add a series per path it tries).
 */
function routeLabel(req: Request, url: string): string {
  const prefix = PREFIXES.find((p) => url === p || url.startsWith(`${p}/`));
  // The dashboard's and the queue board's files are one route each, whoever served them.
  if (!req.route || prefix === '/dashboard' || prefix === '/admin/queues')
    return prefix ? `${prefix}/*` : 'unmatched';
  const label = matchedRoute((req.route as { path?: unknown }).path, url);
  if (labels.has(label)) return label;
  if (labels.size >= MAX_ROUTE_LABELS) return 'other';
  labels.add(label);
  return label;
}

function matchedRoute(pattern: unknown, url: string): string {
  const path = (url.length > 1 && url.endsWith('/') ? url.slice(0, -1) : url).toLowerCase();
  const segments = path.split('/');
  const own = typeof pattern === 'string' ? pattern.split('/').filter(Boolean) : [];
  // The mount is what precedes the route's own segments; a wildcard's may be any number, so
  // there the mount ends where the route's literal segments begin.
  const wildcard = own.findIndex((s) => s.startsWith('*'));
  let mountEnd = segments.length - own.length;
  if (wildcard >= 0) {
    const literal = own.slice(0, wildcard).join('/').toLowerCase();
    mountEnd = segments.findIndex((_, i) => segments.slice(i, i + wildcard).join('/') === literal);
  }
  if (mountEnd < 0) mountEnd = segments.length;
  return [...mountPattern(segments.slice(0, mountEnd)), ...own].join('/');
}

const PARAM_MOUNT = CHILD_KEYS_MOUNT.split('/');

/** A mount path as its pattern: the child keys' mount by its own, elsewhere ids folded. */
function mountPattern(segments: string[]): string[] {
  if (
    segments.length === PARAM_MOUNT.length &&
    PARAM_MOUNT.every((p, i) => p.startsWith(':') || p === segments[i])
  )
    return PARAM_MOUNT;
  return segments.map((s) => (ID_SEGMENT.test(s) ? ':id' : s));
}

/** The level of a request's access line. */
function levelOf(status: number, err: unknown, url: string, ms: number, res: ServerResponse): Level {
  // A 503 is a condition the gateway meant (Redis, Postgres or every node out of reach), logged
  // where it arises, once: an error line with a stack per refused request flooded the log in an
  // outage. Its line keeps what the cause said. A readiness probe's is the outage the probe is for:
  // a line per probe said it again every few seconds (ops31).
  if (status === 503) return url === '/readyz' ? 'debug' : 'warn';
  if (err !== undefined || status >= 500) return 'error';
  if (status >= 400) return 'info';
  // A stream's time is its generation's, not slowness (its content type read only past SLOW_MS).
  if (ms >= SLOW_MS && !String(res.getHeader('content-type') ?? '').startsWith('text/event-stream'))
    return 'warn';
  return 'debug';
}
