import { z } from 'zod';
import { ApiError, type ErrorType } from '../../shared/errors.js';
import { CANONICAL_DIGITS } from '../../shared/money.js';

/** Characters that reorder the text around them (bidi embeddings, overrides, isolates, marks). */
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
/** Control characters (C0, DEL, C1): never part of a name. */
const CONTROLS = /\p{Cc}/u;
/**
 * What shows nothing by itself: separators, format characters (zero-width ones, tags, invisible
 * operators), combining marks with nothing to combine with (variation selectors among them), and
 * the letters drawn blank (Hangul fillers, the Braille blank). Allowed inside a name that shows
 * something (a zero-width joiner in an emoji sequence), not as the whole of one.
 */
const SHOWS_NOTHING = /[\p{Z}\p{Cf}\p{Cc}\p{M}\u115F\u1160\u3164\uFFA0\u2800]/gu;

/**
 * A key's display name: trimmed, so "   " is as empty as "". Names are often a SaaS's customer's
 * own choice, shown in the owner's dashboard among the others: none may reorder the text around
 * it (a U+202E makes "Client A" read as another) or look blank (only zero-width spaces).
 */
export const keyName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .refine((s) => !BIDI_CONTROLS.test(s), 'must not hold text-direction control characters')
  .refine((s) => !CONTROLS.test(s), 'must not hold control characters')
  .refine((s) => s.replace(SHOWS_NOTHING, '').length > 0, 'must hold a visible character');

/** Up to a week: a deploy cycle, not a second key for good. */
export const KEY_ROTATION_GRACE_SECONDS_MAX = 7 * 86_400;

/** A key rotation's `grace_period_seconds` (child and management keys alike). */
export function keyRotationGrace(whose: string) {
  return z
    .number()
    .int()
    .min(0)
    .max(KEY_ROTATION_GRACE_SECONDS_MAX)
    .default(0)
    .describe(
      `How long the replaced secret keeps working beside the new one, so ${whose} can switch without ` +
        'downtime. 0 (the default) stops it at once, as for a secret that leaked; it also ends the grace of ' +
        'an earlier rotation.',
    );
}

/** Whether the secret a key's rotation replaced still works at `now`. */
export function previousSecretWorks(
  k: { previous_key_expires_at: Date | null },
  now: Date,
): k is { previous_key_expires_at: Date } {
  return k.previous_key_expires_at !== null && k.previous_key_expires_at > now;
}

/**
 * Until when a rotation at `now` with `grace` seconds keeps the replaced secret working. One older
 * secret at a time (as for webhook secrets): a grace while an earlier one runs is a 409; ending the
 * grace at once (0) is always allowed.
 */
export function rotationGraceEnd(
  k: { previous_key_expires_at: Date | null },
  grace: number,
  now: Date,
): Date {
  if (grace > 0 && previousSecretWorks(k, now))
    throw new ApiError(
      'conflict',
      `The last rotation's old secret works until ${k.previous_key_expires_at.toISOString()}; ` +
        'rotate again then, or now with grace_period_seconds 0, which stops every older secret at once',
    );
  return new Date(now.getTime() + grace * 1000);
}

const LAST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** ISO-8601 with an explicit offset (`Z` or `+02:00`): a bare local time would be ambiguous. */
export const isoInstant = z.iso
  .datetime({
    offset: true,
    // One message for every way to miss it (no zone, no such day, a +0100 offset, a number).
    message:
      'must be a valid ISO-8601 date-time with a timezone, e.g. 2027-01-01T03:00:00Z or 2027-01-01T03:00:00+01:00',
  })
  .transform((v) => new Date(v))
  // Past year 9999 (as in UTC) a date's ISO string is an extended year Postgres refuses.
  .refine((d) => d.getTime() <= LAST_INSTANT_MS, 'must be no later than 9999-12-31T23:59:59Z');

/** The future check needs the request's clock, so it runs in the handler, not in the schema. */
export function assertFuture(param: string, at: Date | null | undefined, now: Date): void {
  if (at && at.getTime() <= now.getTime()) throw ApiError.invalid(param, `${param}: must be in the future`);
}

/**
 * Metadata is echoed on every get and list, and stored inline in the key row; 16 KB is plenty for
 * labels and customer references while keeping a list of thousands of keys (and the row) small.
 */
export const METADATA_MAX_BYTES = 16 * 1024;

// Text Postgres cannot store (a NUL, a lone surrogate) is refused for every JSON body before any
// route reads it (shared/json-body-check.ts), metadata included.
export const metadataInput = z
  .preprocess(
    (v, ctx) => {
      // A `__proto__` key would be dropped on the way through (an object cannot hold it as data):
      // refused rather than lost without a word.
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__'))
        ctx.addIssue({ code: 'custom', message: 'must not have a key named __proto__' });
      return v;
    },
    z.record(z.string(), z.unknown()),
  )
  .refine(
    (v) => Buffer.byteLength(JSON.stringify(v)) <= METADATA_MAX_BYTES,
    `must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
  );

/**
 * A `?limit=`: the digits of a whole number from 1 to `max`, every bound said in the same words. Not
 * z.coerce, which read " 1" as 1, "1e3" as 1000 and an empty `limit=` as 0 ("too small").
 */
export const limitDigits = (max: number) => {
  const words = `must be a whole number from 1 to ${max}`;
  return z
    .string()
    .regex(/^\d{1,6}$/, words)
    .transform(Number)
    .pipe(z.number().int().min(1, words).max(max, words));
};

/** A list's `?limit=`, `fallback` when absent. */
export const queryLimit = (max: number, fallback: number) =>
  limitDigits(max)
    .optional()
    .transform((v) => v ?? fallback)
    .meta({ type: 'integer', minimum: 1, maximum: max, default: fallback });

export const ngonkaString = z
  .string()
  .regex(CANONICAL_DIGITS)
  .describe('nGNK, a non-negative integer as a string');
export const isoString = z.string().describe('ISO-8601 UTC date-time').meta({ format: 'date-time' });

/**
 * Each error `type` and what it adds to the envelope (API.md). A Record, so a type added to
 * ErrorType without a line here fails to compile.
 */
const ERROR_TYPES: Record<ErrorType, string> = {
  invalid_request_error: '400; `param` names the field (null when no one field is at fault)',
  authentication_error: '401: no, or an invalid, session, admin or metrics token',
  invalid_api_key: '401; `code`: key_unknown, key_disabled, key_expired or key_revoked',
  permission_error: '403: a token of the wrong kind for the route',
  child_key_limit:
    '402; `daily_remaining`, `monthly_remaining` (nGNK, null where no limit is set), `daily_resets_at`, `monthly_resets_at`',
  insufficient_balance: '402; `available_ngonka`',
  not_found: '404 (another account’s resources too)',
  conflict: '409',
  payload_too_large: '413',
  request_timeout: '408: the whole request did not arrive within REQUEST_TIMEOUT_MS',
  headers_too_large: '431: the request headers are over the server’s limit',
  rate_limit_exceeded: '429; `retry_after_ms`, and the Retry-After header',
  internal_error: '500',
  upstream_error: '502: the model failed after retries',
  upstream_unavailable: '503: no node can serve the model now',
  service_unavailable: '503: Postgres or Redis briefly out of reach; Retry-After',
};

/** The one error envelope (API.md "Conventions"): `{error: {type, message, ...fields of its type}}`. */
const errorEnvelope = z
  .object({
    error: z
      .object({
        type: z.enum(Object.keys(ERROR_TYPES) as [ErrorType, ...ErrorType[]]).describe(
          Object.entries(ERROR_TYPES)
            .map(([type, what]) => `${type}: ${what}`)
            .join('\n'),
        ),
        message: z.string(),
        param: z.string().nullable().optional(),
        code: z.string().optional(),
        daily_remaining: ngonkaString.nullable().optional(),
        monthly_remaining: ngonkaString.nullable().optional(),
        daily_resets_at: isoString.optional(),
        monthly_resets_at: isoString.optional(),
        available_ngonka: ngonkaString.optional(),
        retry_after_ms: z.number().int().optional(),
      })
      .loose(),
  })
  .meta({ id: 'Error' });

export const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorEnvelope } },
});

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request (`param` names the field)',
  401: 'Missing or invalid credentials',
  403: 'A key of the wrong kind for this route',
  404: 'Not found',
  409: 'Conflict',
  429: 'Too many attempts (`retry_after_ms`, `Retry-After`)',
  503: 'service_unavailable: Redis or Postgres briefly out of reach (`Retry-After`)',
};

/** The error responses a route may give, keyed by status, for registerPath. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, errorResponse(ERROR_DESCRIPTIONS[s] ?? 'Error')]));
}

/** An OpenAI list, newest first: the next page is `after` its `last_id`, while `has_more`. */
export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({
    object: z.literal('list'),
    data: z.array(item),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean().describe('Whether older ones follow: ask for them `after` the `last_id`'),
  });

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
