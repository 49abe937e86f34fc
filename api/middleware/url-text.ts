import type { RequestHandler } from 'express';
import { ApiError } from '../../shared/errors.js';

/**
 * A NUL character in the URL (`%00`, the only way one gets there) is refused before any route
 * reads it: an id or a list filter holding one would reach Postgres, which cannot store or compare
 * such text, and fail as a 500. A query parameter's 400 names it.
 */
export const refuseNulInUrl: RequestHandler = (req, _res, next) => {
  const url = req.url;
  if (!url.includes('%00')) return next();
  const q = url.indexOf('?');
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
      if (k.includes('\u0000')) throw nul('A query parameter name', null);
      if (v.includes('\u0000')) throw nul(k, k);
    }
  }
  if ((q < 0 ? url : url.slice(0, q)).includes('%00')) throw nul('The path', null);
  next();
};

const nul = (what: string, param: string | null) =>
  new ApiError('invalid_request_error', `${what} may not contain a NUL character (%00)`, { param });
