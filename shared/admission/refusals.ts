import { ApiError, type InvalidKeyCode } from '../errors.js';
import { dayResetsAt, monthResetsAt } from '../periods.js';

const KEY_CODES: Record<string, { code: InvalidKeyCode; message: string }> = {
  disabled: { code: 'key_disabled', message: 'API key disabled' },
  expired: { code: 'key_expired', message: 'API key expired' },
  deleted: { code: 'key_revoked', message: 'API key revoked' },
  revoked: { code: 'key_revoked', message: 'API key revoked' },
  rotated: { code: 'key_revoked', message: 'API key revoked: this secret was replaced by a rotation' },
};

/** API.md's 401 for a key the gateway does not know (never issued, or not this kind's). */
export const unknownKey = () =>
  new ApiError('invalid_api_key', 'Unknown API key', { code: 'key_unknown' satisfies InvalidKeyCode });

/** API.md's 401 for a key that is not live: `state` is why (disabled, expired, deleted, revoked). */
export function inactiveKeyError(state: string): ApiError {
  const k = KEY_CODES[state] ?? { code: 'key_disabled' as const, message: 'API key not active' };
  return new ApiError('invalid_api_key', k.message, { code: k.code });
}

/** OpenAI's rate-limit headers (API.md: on every /v1 answer of a key with an RPM limit). */
export function rateLimitHeaders(limit: number, remaining: number, resetMs: number): Record<string, string> {
  return {
    'x-ratelimit-limit-requests': String(limit),
    'x-ratelimit-remaining-requests': String(Math.max(remaining, 0)),
    'x-ratelimit-reset-requests': `${Math.max(Math.ceil(resetMs / 1000), 0)}s`,
  };
}

/** The RPM state a limit or balance refusal carries after its own fields (rpm 0: no limit). */
function rpmHeaders(reply: (string | number)[], from: number): Record<string, string> {
  const rpm = Number(reply[from] ?? 0);
  return rpm > 0 ? rateLimitHeaders(rpm, Number(reply[from + 1]), Number(reply[from + 2])) : {};
}

const IN_FLIGHT =
  ' (requests not billed yet count at their maximum cost until they settle, a moment after they end)';

/** The admission script's refusal → the exact API.md error (status, type, extra fields, headers). */
export function refusalError(reply: (string | number)[], now: Date): ApiError {
  const [kind, a, b] = reply;
  switch (kind) {
    case 'key':
      return inactiveKeyError(String(a));
    case 'rpm': {
      const retryMs = Math.max(Number(b), 1);
      return new ApiError(
        'rate_limit_exceeded',
        `Rate limit of ${a} requests per minute reached`,
        // OpenAI's 429 names its code too, which client libraries test (err.code).
        { code: 'rate_limit_exceeded', retry_after_ms: retryMs },
        {
          'retry-after': String(Math.ceil(retryMs / 1000)),
          // Read first by the openai SDKs: a retry waits the exact time, not the whole second above.
          'retry-after-ms': String(retryMs),
          ...rateLimitHeaders(Number(a), 0, retryMs),
        },
      );
    }
    case 'limit': {
      // The script's decimal strings, exact; '-1' where the key has no such limit.
      const remaining = (v: string | number | undefined) =>
        Number(v) < 0 ? null : BigInt(v ?? 0).toString();
      const [daily, monthly] = [remaining(a), remaining(b)];
      // With something left, it is this request's worst case (prompt + max_tokens) that does not fit.
      // What is left counts the key's requests not billed yet at their worst case, which their
      // settlement gives back a moment after they finish (limits31: a client that asked at once was
      // told 0 where most of the limit came back within half a second): said, so it can retry.
      const spent = daily === '0' || monthly === '0';
      return new ApiError(
        'child_key_limit',
        spent
          ? `This key has reached its spending limit${IN_FLIGHT}`
          : `This request's maximum cost (its prompt and max_tokens) is more than the key has left of its spending limit${IN_FLIGHT}; lower max_tokens or wait for its reset (daily_resets_at, monthly_resets_at)`,
        {
          daily_remaining: daily,
          monthly_remaining: monthly,
          // Strings always, as API.md shows them (a typed client reads them as dates): the period's
          // end exists whether or not the key limits it; *_remaining null says which it does not.
          daily_resets_at: dayResetsAt(now).toISOString(),
          monthly_resets_at: monthResetsAt(now).toISOString(),
        },
        rpmHeaders(reply, 3),
      );
    }
    case 'balance': {
      const available = BigInt(a ?? 0); // the script's decimal string, exact
      return new ApiError(
        'insufficient_balance',
        'Insufficient balance for this request',
        { available_ngonka: (available > 0n ? available : 0n).toString() },
        rpmHeaders(reply, 2),
      );
    }
    case 'load':
      // Redis still lacks the key's state after every load (each read went stale under a stream of
      // releases to an account Redis lost): a moment's wait, like Redis out of reach.
      return ApiError.unavailable();
    default:
      return new ApiError('internal_error', 'Admission failed');
  }
}
