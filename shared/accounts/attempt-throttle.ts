import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Context } from '../context.js';
import { ApiError } from '../errors.js';

/**
 * The network a client's attempts are counted under: its IPv4 address, or its IPv6 /64. One
 * subscriber's IPv6 link is a /64 (2^64 addresses), each of which would otherwise get a fresh
 * count: a guesser on one link could try without end.
 */
export function throttleNetwork(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  let addr = ipaddr.parse(ip);
  if (addr instanceof ipaddr.IPv6 && addr.isIPv4MappedAddress()) addr = addr.toIPv4Address();
  if (addr instanceof ipaddr.IPv4) return addr.toString();
  return `${addr.parts
    .slice(0, 4)
    .map((p) => p.toString(16))
    .join(':')}::/64`;
}

function throttleKey(
  ctx: Context,
  kind: 'login' | 'login-ip' | 'register-ip' | 'admin-ip',
  ...parts: string[]
): string {
  // Hashed so neither emails nor addresses sit in Redis in the clear.
  const digest = createHash('sha256').update(parts.join('|')).digest('hex');
  return `${ctx.config.REDIS_PREFIX}:${kind}:${digest}`;
}

/**
 * Count one attempt under `key` in a fixed window that starts at the first attempt (SET NX; later
 * attempts never extend it). Throws 429 once more than `max` attempts fall in the window.
 */
async function countAttempt(ctx: Context, key: string, max: number, windowS: number, message: string) {
  const windowMs = windowS * 1000;
  const res = await ctx.redis.multi().set(key, 0, 'PX', windowMs, 'NX').incr(key).pttl(key).exec();
  const attempts = Number(res?.[1]?.[1] ?? 0);
  if (attempts <= max) return;
  const pttl = Number(res?.[2]?.[1] ?? windowMs);
  const retryAfterMs = pttl > 0 ? pttl : windowMs;
  throw new ApiError(
    'rate_limit_exceeded',
    `${message} ${inAbout(retryAfterMs)}`,
    { retry_after_ms: retryAfterMs },
    { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
  );
}

const TOO_MANY_LOGINS = 'Too many failed login attempts; try again';

/**
 * Count this login attempt, before the password is checked (so a burst of parallel guesses cannot
 * all slip past a read-then-increment check), against its email+IP (API.md: guessing one
 * account's password) and against its IP alone (trying many emails from one address). Throws 429
 * once LOGIN_MAX_ATTEMPTS (per email+IP) or LOGIN_MAX_FAILURES_PER_IP attempts that did not
 * succeed fall in the window, whatever the password.
 */
export async function countLoginAttempt(ctx: Context, email: string, ip: string): Promise<void> {
  const {
    LOGIN_MAX_ATTEMPTS,
    LOGIN_MAX_FAILURES_PER_IP,
    LOGIN_THROTTLE_WINDOW_SECONDS: windowS,
  } = ctx.config;
  await countAttempt(
    ctx,
    throttleKey(ctx, 'login', email, throttleNetwork(ip)),
    LOGIN_MAX_ATTEMPTS,
    windowS,
    TOO_MANY_LOGINS,
  );
  await countAttempt(
    ctx,
    throttleKey(ctx, 'login-ip', throttleNetwork(ip)),
    LOGIN_MAX_FAILURES_PER_IP,
    windowS,
    TOO_MANY_LOGINS,
  );
}

/**
 * A successful login forgives its email's failures from this IP, and takes itself off the IP's
 * count: the IP's count is of attempts that failed, so an office behind one address whose people
 * log in all day is never throttled for it.
 */
export async function clearLoginAttempts(ctx: Context, email: string, ip: string): Promise<void> {
  await ctx.redis.del(throttleKey(ctx, 'login', email, throttleNetwork(ip)));
  // Only a count still in its window, and never below 0: a DECR of a key that expired meanwhile
  // would leave a negative count with no expiry, credit for failures never made.
  await ctx.redis.eval(REFUND, 1, throttleKey(ctx, 'login-ip', throttleNetwork(ip)));
}

const REFUND = `if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end`;

/**
 * Count an admin-token attempt from this IP before the token is checked (as a login), so guesses
 * at ADMIN_TOKEN (it opens top-ups: money) are throttled: 429 past ADMIN_MAX_FAILURES_PER_IP
 * attempts that did not succeed in LOGIN_THROTTLE_WINDOW_SECONDS. `succeeded` takes a good one off.
 */
export async function countAdminAttempt(
  ctx: Context,
  ip: string,
): Promise<{ succeeded: () => Promise<void> }> {
  const key = throttleKey(ctx, 'admin-ip', throttleNetwork(ip));
  await countAttempt(
    ctx,
    key,
    ctx.config.ADMIN_MAX_FAILURES_PER_IP,
    ctx.config.LOGIN_THROTTLE_WINDOW_SECONDS,
    'Too many failed admin token attempts from this address; try again',
  );
  return {
    succeeded: async () => {
      await ctx.redis.eval(REFUND, 1, key);
    },
  };
}

/**
 * Count a registration from this IP: each one runs a password hash (tens of ms of CPU) and says
 * whether its email already has an account, so one address may not make them without end.
 * Throws 429 past REGISTER_MAX_PER_IP in REGISTER_THROTTLE_WINDOW_SECONDS.
 */
export async function countRegistration(ctx: Context, ip: string): Promise<void> {
  await countAttempt(
    ctx,
    throttleKey(ctx, 'register-ip', throttleNetwork(ip)),
    ctx.config.REGISTER_MAX_PER_IP,
    ctx.config.REGISTER_THROTTLE_WINDOW_SECONDS,
    'Too many registrations from this address; try again',
  );
}

/** When, in words a person reads at a glance: "in about 15 minutes", "in about 40 seconds". */
function inAbout(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 90) return `in about ${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  return `in about ${m} minutes`;
}
