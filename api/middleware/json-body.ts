import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  Router,
} from 'express';
import type { Context } from '../../shared/context.js';
import { ApiError } from '../../shared/errors.js';
import {
  inexactMoney,
  inexactMoneyField,
  jsonBodyProblem,
  nestsTooDeep,
  notUtf8,
  tooDeep,
} from '../../shared/json-body-check.js';
import { refusedBeforeAdmission } from './child-key.js';
import { refuseNulInUrl } from './url-text.js';

/** The largest JSON body /v1 reads (a chat's messages), on the Express path and the fast path alike. */
export const JSON_BODY_LIMIT = 4 * 1024 * 1024;

/**
 * The largest JSON body anywhere else: /api's largest is a child key with its 16 KiB of metadata
 * (measured compact; a client escaping every character as \uXXXX sends up to six times that).
 * These are read before any session or key is checked, and parsing is the event loop's time
 * (every tenant's), so the limit stays small; it bounds the inflated size of a gzipped body too.
 */
export const API_JSON_BODY_LIMIT = 128 * 1024;

/**
 * A body sent as anything but JSON (text/plain, curl's form-urlencoded default) is not parsed, and
 * the route would answer that its first field is missing: say what is wrong instead. Multipart
 * bodies are left to the upload route that reads them. A JSON body nesting absurdly deep is
 * refused too, and text Postgres cannot store (json-body-check.ts).
 */
const requireJsonBody: RequestHandler = (req, _res, next) => {
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
 * express.json's `verify`: a body nesting too deep is refused before JSON.parse spends time on it.
 * The scan reads UTF-8 bytes, so JSON in any other charset is refused first (RFC 8259: JSON between
 * systems is UTF-8): in UTF-16 a plain character's bytes can read as brackets or quotes, which hid
 * a deep body from the scan and refused plain text as deep.
 */
const refuseDeepJson = (_req: IncomingMessage, _res: unknown, bytes: Buffer, encoding: string) => {
  if (encoding !== 'utf-8')
    throw Object.assign(new Error('JSON must be UTF-8'), { type: 'charset.unsupported', charset: encoding });
  if (!isUtf8(bytes)) throw notUtf8();
  if (nestsTooDeep(bytes)) throw tooDeep();
};

/** /api's too: its money fields (`…_ngonka`) as their text has them, before parsing loses it. */
const refuseDeepJsonOrInexactMoney: typeof refuseDeepJson = (req, res, bytes, encoding) => {
  refuseDeepJson(req, res, bytes, encoding);
  const field = inexactMoneyField(bytes);
  if (field) throw inexactMoney(field);
};

/** The checks every JSON body and URL gets, with the body's size limit: the URL's NUL, the JSON, its content. */
const bodyChecks = (limit: number, verify = refuseDeepJson): RequestHandler[] => [
  refuseNulInUrl,
  express.json({ limit, verify }),
  requireJsonBody,
];

/**
 * The body and URL checks everywhere but /v1, before the routers, at API_JSON_BODY_LIMIT. A
 * session or key is checked after them here, so the limit is what bounds anyone's cost.
 */
export function bodyUnlessV1(): RequestHandler[] {
  return bodyChecks(API_JSON_BODY_LIMIT, refuseDeepJsonOrInexactMoney).map(
    (check): RequestHandler =>
      (req, res, next) =>
        isV1(req.path) ? next() : check(req, res, next),
  );
}

/**
 * The same checks on /v1, in its router once the child key is known (v1.ts): no one without a key
 * makes the api read a body, an unknown key is a 401 whatever it sent, and a body's or URL's 400
 * carries the key's RPM headers like every other /v1 answer (or is the key's own 401 when it is
 * inactive: refusedBeforeAdmission). The fast path (fast-v1.ts) keeps the same order.
 */
export function v1Body(ctx: Context): Router {
  const r = Router();
  r.use(bodyChecks(JSON_BODY_LIMIT));
  r.use(async (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    throw await refusedBeforeAdmission(ctx, res.locals.childKey, res, err);
  });
  return r;
}
