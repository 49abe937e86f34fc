import type { RequestHandler, Response } from 'express';
import type { RateLimitState } from '../../shared/admission/admit.js';
import { authenticateChildKey } from '../../shared/admission/authenticate.js';
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
export function setRateLimitHeaders(res: Response, rl: RateLimitState | null): void {
  if (!rl) return;
  res.setHeader('x-ratelimit-limit-requests', String(rl.limit));
  res.setHeader('x-ratelimit-remaining-requests', String(Math.max(rl.remaining, 0)));
  res.setHeader('x-ratelimit-reset-requests', `${Math.max(Math.ceil(rl.resetMs / 1000), 0)}s`);
}
