import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { RateLimitState } from '../../shared/admission/admit.js';
import { authenticateChildKey } from '../../shared/admission/authenticate.js';
import { rateLimitHeaders } from '../../shared/admission/refusals.js';
import type { Context } from '../../shared/context.js';
import { bearerToken } from './auth.js';

/** /v1 routes: a child key only (a `gm-` key is 403, anything unknown 401). */
export function requireChildKey(ctx: Context): RequestHandler {
  return async (req, res, next) => {
    res.locals.childKey = await authenticateChildKey(ctx, bearerToken(req));
    next();
  };
}

/** OpenAI's rate-limit headers, on every /v1 answer of a key that has an RPM limit. */
export function setRateLimitHeaders(res: ServerResponse, rl: RateLimitState | null): void {
  if (!rl) return;
  for (const [k, v] of Object.entries(rateLimitHeaders(rl.limit, rl.remaining, rl.resetMs)))
    res.setHeader(k, v);
}
