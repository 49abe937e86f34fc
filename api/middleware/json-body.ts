import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { ApiError } from '../../shared/errors.js';
import { jsonBodyProblem } from '../../shared/json-body-check.js';

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
