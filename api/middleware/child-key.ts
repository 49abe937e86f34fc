import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { RateLimitState } from '../../shared/admission/admit.js';
import { authenticateChildKey } from '../../shared/admission/authenticate.js';
import { checkKeyAccess } from '../../shared/admission/key-access.js';
import { rateLimitHeaders } from '../../shared/admission/refusals.js';
import { bearerToken } from '../../shared/bearer.js';
import type { Context } from '../../shared/context.js';
import type { ChildKeyIdentity } from '../../shared/db/queries/admission-state.js';
import { ApiError } from '../../shared/errors.js';
import { noteKey } from './access-log.js';

/** /v1 routes: a child key only (a `gm-` key is 403, anything unknown 401). */
export function requireChildKey(ctx: Context): RequestHandler {
  return async (req, res, next) => {
    res.locals.childKey = await authenticateChildKey(ctx, bearerToken(req));
    noteKey(res, res.locals.childKey);
    next();
  };
}

/** OpenAI's rate-limit headers, on every /v1 answer of a key that has an RPM limit. */
export function setRateLimitHeaders(res: ServerResponse, rl: RateLimitState | null): void {
  if (!rl) return;
  for (const [k, v] of Object.entries(rateLimitHeaders(rl.limit, rl.remaining, rl.resetMs)))
    res.setHeader(k, v);
}

/** The RPM headers of a request whose slot was given back (no node had capacity): one more left. */
export function setRateLimitHeadersSlotBack(res: ServerResponse, rl: RateLimitState | null): void {
  if (rl) setRateLimitHeaders(res, { ...rl, remaining: Math.min(rl.remaining + 1, rl.limit) });
}

/**
 * The /v1 routes that take no hold: the key must still be active (admission checks it on the
 * others), and the answer carries its RPM headers.
 */
export function requireActiveChildKey(ctx: Context): RequestHandler {
  return async (_req, res, next) => {
    setRateLimitHeaders(res, await checkKeyAccess(ctx, res.locals.childKey));
    next();
  };
}

/**
 * What an admitting route throws when a step before its admission (validation, the model lookup)
 * refused the request: an inactive key's 401 rather than the 400, and the 400 with the RPM headers
 * like every other /v1 answer. Called from the route's catch, so the happy path pays nothing:
 * admission makes both checks itself.
 */
export async function refusedBeforeAdmission(
  ctx: Context,
  key: ChildKeyIdentity,
  res: ServerResponse,
  err: unknown,
): Promise<unknown> {
  let rateLimit: RateLimitState | null;
  try {
    rateLimit = await checkKeyAccess(ctx, key);
  } catch (refusal) {
    // The key's own refusal wins; Redis failing to answer must not hide what was wrong.
    return refusal instanceof ApiError ? refusal : err;
  }
  setRateLimitHeaders(res, rateLimit);
  return err;
}
