import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { authenticateChildKey } from '../shared/admission/authenticate.js';
import { bearerToken } from '../shared/bearer.js';
import type { Context } from '../shared/context.js';
import type { ChildKeyIdentity } from '../shared/db/queries/admission-state.js';
import { jsonBodyProblem, nestsTooDeep, notUtf8, tooDeep } from '../shared/json-body-check.js';
import { withLogFields } from '../shared/log-context.js';
import type { AppDeps } from './app.js';
import { logWhenFinished, noteKey } from './middleware/access-log.js';
import { refusedBeforeAdmission } from './middleware/child-key.js';
import { corsV1 } from './middleware/cors-v1.js';
import { sendError } from './middleware/error-handler.js';
import { JSON_BODY_LIMIT } from './middleware/json-body.js';
import { apiResponseHeaders } from './middleware/no-store.js';
import { requestIdOf } from './middleware/request-id.js';
import { serveChatCompletion } from './routes/v1-chat-completions.js';
import { serveJobSubmission } from './routes/v1-jobs.js';

type Route = (
  ctx: Context,
  deps: AppDeps,
  key: ChildKeyIdentity,
  body: unknown,
  res: ServerResponse,
  headers: IncomingHttpHeaders,
) => Promise<void>;

/** The hot routes (POST), by their path as Express matches it (lower case, no trailing slash). */
export const ROUTES: Record<string, Route> = {
  '/v1/chat/completions': serveChatCompletion,
  '/v1/jobs': serveJobSubmission,
};

/**
 * The api's request listener: POST /v1/chat/completions and POST /v1/jobs are served without
 * Express, everything else by the Express app. Express's own handling of a request (prototype
 * swaps, the router stack, body-parser, response helpers) costs about 0.3 ms of CPU, as much as
 * the whole admission, on the two routes that carry the traffic. The steps are the app's, in its
 * order (request id, access log, child-key auth, JSON body, the route, the error envelope), and the
 * route handlers are the very ones the /v1 router runs. A body that is not plain JSON (another
 * content type or charset, a compressed body) or a URL holding a NUL goes to Express, which
 * handles it as before; test/e2e/v1-fast-path.test.ts holds the two paths to the same answers.
 */
export function fastV1(ctx: Context, deps: AppDeps, app: Express): RequestListener {
  return (req, res) => {
    const url = req.url ?? '';
    const path = req.method === 'POST' ? routePath(url) : '';
    // A URL with a NUL (%00) goes to Express too, whose refuseNulInUrl answers it: rare, and one
    // check in one place keeps the two paths' answers the same.
    if (!Object.hasOwn(ROUTES, path) || !plainJson(req) || url.includes('%00')) {
      app(req, res);
      return;
    }
    void serve(ctx, deps, path, req, res);
  };
}

async function serve(
  ctx: Context,
  deps: AppDeps,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const route = ROUTES[path]!;
  const requestId = requestIdOf(req);
  res.setHeader('x-request-id', requestId);
  corsV1(req, res, () => {}); // a POST is no preflight: this only sets the headers
  apiResponseHeaders(req, res, () => {});
  logWhenFinished(ctx.logger, req, res, requestId, () => path);
  try {
    // The body's bytes are taken in at once, as they come, and parsed only once the key is known,
    // as on the Express path (v1Body): no one without a key makes the api parse a body, an unknown
    // key is a 401 whatever it sent, and a body's 400 carries the key's RPM headers like every
    // other /v1 answer.
    const bytes = readBody(req).catch((err: unknown) => new BodyFault(err));
    const key = await authenticateChildKey(ctx, bearerToken(req));
    noteKey(res, key);
    const body = await bytes.then((b) => (b instanceof BodyFault ? b : parseJson(b)));
    if (body instanceof BodyFault) throw await refusedBeforeAdmission(ctx, key, res, body.err);
    await route(withLogFields(ctx, { requestId }), deps, key, body, res, req.headers);
  } catch (err) {
    sendError(res, err, ctx.logger, requestId);
  }
}

/** A body that could not be read as JSON: answered once the key is known. */
class BodyFault {
  constructor(readonly err: unknown) {}
}

function routePath(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).toLowerCase();
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** `application/json`, in UTF-8, not compressed: what this path parses itself. */
function plainJson(req: IncomingMessage): boolean {
  const [media, ...params] = (req.headers['content-type'] ?? '').split(';');
  if (media?.trim().toLowerCase() !== 'application/json') return false;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k?.trim().toLowerCase() === 'charset' && v?.trim().replaceAll('"', '').toLowerCase() !== 'utf-8')
      return false;
  }
  const encoding = req.headers['content-encoding'];
  return !encoding || encoding.toLowerCase() === 'identity';
}

/** body-parser's error kinds, so sendError answers exactly as for Express (400 / 413). */
const bodyError = (type: 'entity.parse.failed' | 'entity.too.large' | 'request.aborted') =>
  Object.assign(new Error(type), { type });

/** A body's bytes, up to JSON_BODY_LIMIT (past it, body-parser's 413). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  if (Number(req.headers['content-length']) > JSON_BODY_LIMIT)
    return Promise.reject(bodyError('entity.too.large'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      const wasWithin = size <= JSON_BODY_LIMIT;
      size += chunk.length;
      if (size <= JSON_BODY_LIMIT) chunks.push(chunk);
      else if (wasWithin) {
        chunks.length = 0; // the rest is read and dropped
        reject(bodyError('entity.too.large'));
      }
    });
    // A connection reset mid-body ('aborted'): as body-parser names it, a 400 nobody hears.
    req.once('error', () => reject(bodyError('request.aborted')));
    req.once('end', () => {
      if (size <= JSON_BODY_LIMIT) resolve(Buffer.concat(chunks));
    });
    // Closed before its end (the client hung up mid-body): settled, so nothing waits on it.
    req.once('close', () => {
      if (!req.complete) reject(bodyError('entity.parse.failed'));
    });
  });
}

/**
 * What `express.json({ limit: JSON_BODY_LIMIT })` makes of a body's bytes: strict (an object or
 * array), {} when empty, its depth checked before it is parsed; a BodyFault when it is not that.
 */
function parseJson(bytes: Buffer): unknown {
  if (!isUtf8(bytes)) return new BodyFault(notUtf8());
  if (nestsTooDeep(bytes)) return new BodyFault(tooDeep());
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM, as iconv-lite drops it
  if (text.length === 0) return {};
  // Strict, as body-parser: an object or an array after any JSON whitespace (found in place,
  // not by copying a trimmed body of up to 4 MiB).
  const first = text.charCodeAt(firstNonSpace(text));
  if (first !== 0x7b && first !== 0x5b) return new BodyFault(bodyError('entity.parse.failed'));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new BodyFault(bodyError('entity.parse.failed'));
  }
  const problem = jsonBodyProblem(body);
  return problem ? new BodyFault(problem) : body;
}

const JSON_SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Index of the first character that is not JSON whitespace (space, tab, LF, CR). */
function firstNonSpace(text: string): number {
  let i = 0;
  while (JSON_SPACE.has(text.charCodeAt(i))) i++;
  return i;
}
