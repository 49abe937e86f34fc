import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { HoldWriteUnknown } from '../../shared/admission/admit.js';
import { isPostgresConnectionLoss } from '../../shared/db/connection-loss.js';
import { ApiError } from '../../shared/errors.js';
import { sendApiError } from '../../shared/json-response.js';
import type { Logger } from '../../shared/logger.js';
import { noteFailure } from './access-log.js';

/**
 * The 404 of a route that is not there. Inside a mounted router `req.path` is the rest of the path
 * ("/" for the router's own root): the mount point is put back, so a route that is off (admin routes
 * without ADMIN_TOKEN) reads exactly as a missing one.
 */
export function noRoute(req: Request): ApiError {
  const path = req.baseUrl && req.path === '/' ? req.baseUrl : req.baseUrl + req.path;
  return new ApiError('not_found', `No route for ${req.method} ${path}`);
}

/** Unknown routes get the same envelope as every other failure. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(noRoute(req));
};

/**
 * The one error middleware: ApiError → its status and envelope; body-parser failures → 400/413;
 * Redis or Postgres out of reach → 503; anything else → a generic 500 that names only the request
 * id (internals go to the log: the request's access line carries the error, see noteFailure).
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => sendError(res, err, logger, res.locals.requestId);
}

/** What errorHandler answers, for handlers that also run outside Express (see fast-v1.ts). */
export function sendError(res: ServerResponse, err: unknown, logger: Logger, requestId: string): void {
  const apiError = toApiError(err);
  if (!apiError || apiError.type === 'service_unavailable') {
    if (!noteFailure(res, err)) logger.error({ err, requestId }, 'request errored after its response closed');
  } else if (isUnstorableText(err))
    logger.warn({ err, requestId }, 'Postgres refused text the edge checks let through: a check to add');
  const e = apiError ?? new ApiError('internal_error', `Internal error (request ${requestId})`);
  if (res.headersSent) {
    res.end();
    return;
  }
  sendApiError(res, e);
}

function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  const e = err as { type?: string; status?: number; code?: unknown; charset?: unknown };
  if (e?.type === 'entity.parse.failed')
    return new ApiError('invalid_request_error', 'Malformed JSON body', { param: null });
  if (e?.type === 'entity.too.large') return new ApiError('payload_too_large', 'Request body too large');
  // The client hung up mid-body: nobody hears the answer, but it is the client's doing, not a 500.
  if (e?.type === 'request.aborted')
    return new ApiError('invalid_request_error', 'The request body ended before it was whole', {
      param: null,
    });
  // body-parser names the charset it refused (`utf8` is no charset name; `utf-8` is).
  if (e?.type === 'charset.unsupported')
    return new ApiError(
      'invalid_request_error',
      `Unsupported charset${typeof e.charset === 'string' ? ` "${e.charset}"` : ''}: send JSON as UTF-8 (Content-Type: application/json; charset=utf-8, or no charset)`,
      { param: null },
    );
  if (e?.type === 'encoding.unsupported')
    return new ApiError('invalid_request_error', 'Unsupported body encoding', { param: null });
  // body-parser passes a decompression failure on as zlib raised it (status 400, no type).
  if (e?.status === 400 && isZlibError(err))
    return new ApiError('invalid_request_error', 'The body does not decode as its Content-Encoding says', {
      param: null,
    });
  // Express could not percent-decode a path parameter (`/v1/jobs/%FF`).
  if (e?.status === 400 && err instanceof URIError)
    return new ApiError('invalid_request_error', 'The URL is not valid percent-encoded UTF-8', {
      param: null,
    });
  // Text Postgres cannot hold that the edge checks (json-body-check.ts, url-text.ts) missed:
  // still the client's input, so a 400 rather than a 500.
  if (isUnstorableText(err))
    return new ApiError('invalid_request_error', 'The request holds text that cannot be stored', {
      param: null,
    });
  if (isConnectionError(err)) return ApiError.unavailable();
  return null;
}

/** SQLSTATE 22021 character_not_in_repertoire (a NUL), 22P05 untranslatable_character (jsonb `\u0000`). */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && UNSTORABLE_TEXT.has(code);
}

/** What ioredis says of a command it gave up on: closed connection, no answer in REDIS_COMMAND_TIMEOUT_MS. */
const REDIS_GAVE_UP = new Set(['Connection is closed.', 'Command timed out']);

/**
 * Redis or Postgres unreachable: ioredis gives up on a command after its retries
 * (MaxRetriesPerRequestError), on a closed connection or after its command timeout; postgres.js
 * names the failure in `code`. Logged all the same (sendError logs what is not an ApiError first).
 */
function isConnectionError(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown; code?: unknown };
  if (e?.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e?.message === 'string' && REDIS_GAVE_UP.has(e.message)) return true;
  // A hold whose write met a lost connection, and whose lookup after it too: a retry is safe.
  if (err instanceof HoldWriteUnknown) return isConnectionError(err.cause);
  return isPostgresConnectionLoss(err);
}

/** zlib's errors: `Z_DATA_ERROR`, `Z_BUF_ERROR`, … for gzip and deflate, `ERR_BROTLI_…` or `ERR__ERROR_FORMAT_…` for br. */
function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^(Z_|ERR_BROTLI|ERR__ERROR_)/.test(code);
}
