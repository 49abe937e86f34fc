import { createHash } from 'node:crypto';
import type { Context } from '../context.js';
import { ApiError } from '../errors.js';

function throttleKey(ctx: Context, email: string, ip: string): string {
  // Hashed so neither emails nor addresses sit in Redis in the clear.
  const digest = createHash('sha256').update(`${email}|${ip}`).digest('hex');
  return `${ctx.config.REDIS_PREFIX}:login:${digest}`;
}

/**
 * Count this login attempt against its email+IP in a fixed window, before the password is checked,
 * so a burst of parallel guesses cannot all slip past a read-then-increment check. Throws 429 once
 * LOGIN_MAX_ATTEMPTS attempts have failed in the window, whatever the password.
 */
export async function countLoginAttempt(ctx: Context, email: string, ip: string): Promise<void> {
  const key = throttleKey(ctx, email, ip);
  const windowMs = ctx.config.LOGIN_THROTTLE_WINDOW_SECONDS * 1000;
  // SET NX starts the window on the first attempt only; later attempts never extend it.
  const res = await ctx.redis.multi().set(key, 0, 'PX', windowMs, 'NX').incr(key).pttl(key).exec();
  const attempts = Number(res?.[1]?.[1] ?? 0);
  if (attempts <= ctx.config.LOGIN_MAX_ATTEMPTS) return;
  const pttl = Number(res?.[2]?.[1] ?? windowMs);
  const retryAfterMs = pttl > 0 ? pttl : windowMs;
  throw new ApiError(
    'rate_limit_exceeded',
    'Too many failed login attempts; try again later',
    { retry_after_ms: retryAfterMs },
    { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
  );
}

/** A successful login forgives the failures before it. */
export async function clearLoginAttempts(ctx: Context, email: string, ip: string): Promise<void> {
  await ctx.redis.del(throttleKey(ctx, email, ip));
}
