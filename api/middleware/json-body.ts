import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import type { Context } from '../../shared/context.js';
import { ApiError } from '../../shared/errors.js';
import { jsonBodyProblem } from '../../shared/json-body-check.js';
import { refusedBeforeAdmission } from './child-key.js';

/** The largest JSON body the api reads, on the Express path (express.json) and the fast path alike. */
export const JSON_BODY_LIMIT = 4 * 1024 * 1024;

/**
 * A body sent as anything but JSON (text/plain, curl's form-urlencoded default) is not parsed, and
 * the route would answer that its first field is missing: say what is wrong instead. Multipart
 * bodies are left to the upload route that reads them. A JSON body nesting absurdly deep is
 * refused too, and text Postgres cannot store (json-body-check.ts).
 */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const problem = req.body === undefined ? null : jsonBodyProblem(req.body);
  if (problem) throw problem;
  if (
    req.body !== undefined ||
    !hasBody(req) ||
    /^multipart\/form-data/i.test(req.headers['content-type'] ?? '')
  )
    return next();
  throw new ApiError('invalid_request_error', 'Send the body as JSON, with Content-Type: application/json', {
    param: null,
  });
};

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const isV1 = (path: string) => /^\/v1(\/|$)/i.test(path);

/**
 * `body` (express.json, requireJsonBody, refuseNulInUrl) as it runs before the routers, except that
 * on /v1 what it finds wrong with the request waits for the key (answerBodyFault): an unknown key is
 * a 401 whatever it sent, and a body's or URL's 400 carries the key's RPM headers like every other
 * /v1 answer.
 */
export function keyBeforeBodyOnV1(body: RequestHandler): RequestHandler {
  return (req, res, next) => {
    if (!isV1(req.path)) return body(req, res, next);
    if (res.locals.bodyFault !== undefined) return next(); // the first fault found is the answer
    const fault = (err: unknown) => {
      if (err) res.locals.bodyFault = err;
      next();
    };
    try {
      body(req, res, fault);
    } catch (err) {
      fault(err);
    }
  };
}

/** In the /v1 router, once the key is known: the body's fault (keyBeforeBodyOnV1), if any. */
export function answerBodyFault(ctx: Context): RequestHandler {
  return async (_req, res, next) => {
    const fault = res.locals.bodyFault;
    if (fault === undefined) return next();
    throw await refusedBeforeAdmission(ctx, res.locals.childKey, res, fault);
  };
}
