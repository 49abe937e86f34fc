import { z } from 'zod';
import { RPM_LIMIT_MAX } from '../../shared/admission/rpm-window.js';
import type { ChildKeyRow } from '../../shared/db/queries/child-keys.js';
import { ApiError } from '../../shared/errors.js';
import { type ChildKeyUsage, effectiveChildKeyStatus } from '../../shared/keys/child-keys.js';
import { formatNgonka, formatNullableNgonka, ngonkaInput } from '../../shared/money.js';
import {
  isoInstant,
  isoString,
  keyName,
  keyRotationGrace,
  limitDigits,
  metadataInput,
  ngonkaString,
  previousSecretWorks,
} from './common.js';

export const childKeyParams = z.object({ id: z.string(), childId: z.string() });

const STATUSES = ['active', 'disabled', 'expired', 'deleted'] as const;

export const listChildKeysQuery = z.strictObject({
  status: z
    .enum(STATUSES)
    .optional()
    .describe('Only keys in this status (as shown, so past-expiry is expired)'),
  name: z.string().min(1).max(100).optional().describe('Only keys whose name contains this, in any case'),
  // Digits only, as every list's limit (z.coerce read "1e3", " 1" and "0x2" as numbers).
  limit: limitDigits(1000)
    .optional()
    .meta({ type: 'integer', minimum: 1, maximum: 1000 })
    .describe('At most this many (newest first); without it, every key'),
  after: z
    .string()
    .max(100)
    .optional()
    .describe('Cursor: the keys after this one (the last page’s `last_id`)'),
  ids: z
    .string()
    .regex(/^[\w-]{1,100}(,[\w-]{1,100}){0,99}$/, 'must be 1 to 100 child key ids, comma-separated')
    .transform((v) => v.split(','))
    .optional()
    .meta({ type: 'string' })
    .describe('Only these keys (1 to 100 ids, comma-separated): the names of the keys a page shows'),
});

/** How many `metadata.<key>` filters a list takes at once. */
const METADATA_FILTERS_MAX = 5;

/**
 * A list's `?metadata.<key>=<value>` filters (your customer's id, say), split from its other
 * parameters: their names are yours, so a schema of fixed fields cannot hold them.
 */
export function metadataFilters(query: Record<string, unknown>): {
  metadata: Record<string, string>;
  rest: Record<string, unknown>;
} {
  const metadata: Record<string, string> = {};
  const rest: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(query)) {
    const key = /^metadata\.(.+)$/s.exec(name)?.[1];
    if (key === undefined) {
      rest[name] = value;
      continue;
    }
    if (typeof value !== 'string' || value.length > 500 || key.length > 100)
      throw ApiError.invalid(name, `${name}: one value of at most 500 characters, for a key of at most 100`);
    metadata[key] = value;
  }
  if (Object.keys(metadata).length > METADATA_FILTERS_MAX)
    throw ApiError.invalid('metadata', `At most ${METADATA_FILTERS_MAX} metadata.<key> filters at once`);
  return { metadata, rest };
}

const rpm = z
  .number()
  // zod's int() refuses integers past 2^53 too: those are past the maximum, and said so.
  .int({
    error: (iss) => (Number.isInteger(iss.input) ? `must be at most ${RPM_LIMIT_MAX}` : 'must be an integer'),
  })
  .positive('must be positive')
  .max(RPM_LIMIT_MAX, `must be at most ${RPM_LIMIT_MAX}`)
  .describe('Requests per rolling 60 s');

/** `null` on create means the same as leaving the field out: no limit / no expiry / no metadata. */
export const createChildKeyBody = z.strictObject({
  name: keyName,
  limit_daily_ngonka: ngonkaInput.nullable().optional(),
  limit_monthly_ngonka: ngonkaInput.nullable().optional(),
  rate_limit_rpm: rpm.nullable().optional(),
  expires_at: isoInstant.nullable().optional(),
  metadata: metadataInput.nullable().optional(),
});

/** Absent fields stay as they are; `null` clears a limit, the RPM limit, the expiry or the metadata. */
export const updateChildKeyBody = createChildKeyBody.extend({
  name: keyName.optional(),
  status: z.enum(['active', 'disabled']).optional(),
});

export const rotateChildKeyBody = z.strictObject({ grace_period_seconds: keyRotationGrace('the customer') });

const usageObject = z.object({
  daily_spent_ngonka: ngonkaString,
  monthly_spent_ngonka: ngonkaString,
  daily_reserved_ngonka: ngonkaString,
  monthly_reserved_ngonka: ngonkaString,
  daily_remaining_ngonka: ngonkaString.nullable(),
  monthly_remaining_ngonka: ngonkaString.nullable(),
  requests_today: z.number().int(),
  requests_this_month: z.number().int(),
  day_resets_at: isoString,
  month_resets_at: isoString,
});

export const childKeyObject = z.object({
  id: z.string(),
  name: z.string(),
  key_prefix: z.string(),
  status: z.enum(STATUSES),
  limit_daily_ngonka: ngonkaString.nullable(),
  limit_monthly_ngonka: ngonkaString.nullable(),
  rate_limit_rpm: z.number().int().nullable(),
  expires_at: isoString.nullable(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: isoString,
  last_used_at: isoString.nullable(),
  deleted_at: isoString.nullable(),
  previous_key_expires_at: isoString
    .nullable()
    .describe('Until when the secret the last rotation replaced still works; null when it does not'),
  usage: usageObject,
});
export type ChildKeyJson = z.infer<typeof childKeyObject>;

export const createdChildKeyObject = childKeyObject.extend({
  key: z.string().describe('The `gc-…` secret. Returned here only; store it now.'),
});

export const childKeyList = z.object({
  data: z.array(childKeyObject),
  first_id: z.string().nullable(),
  last_id: z.string().nullable(),
  has_more: z.boolean().describe('Whether more follow: ask for them `after` the `last_id`'),
});

export function childKeyJson(k: ChildKeyRow, u: ChildKeyUsage, now: Date): ChildKeyJson {
  return {
    id: k.id,
    name: k.name,
    key_prefix: k.key_prefix,
    status: effectiveChildKeyStatus(k, now),
    limit_daily_ngonka: formatNullableNgonka(k.limit_daily_ngonka),
    limit_monthly_ngonka: formatNullableNgonka(k.limit_monthly_ngonka),
    rate_limit_rpm: k.rate_limit_rpm,
    expires_at: k.expires_at?.toISOString() ?? null,
    metadata: k.metadata,
    created_at: k.created_at.toISOString(),
    last_used_at: k.last_used_at?.toISOString() ?? null,
    deleted_at: k.deleted_at?.toISOString() ?? null,
    previous_key_expires_at: previousSecretWorks(k, now) ? k.previous_key_expires_at.toISOString() : null,
    usage: {
      daily_spent_ngonka: formatNgonka(u.daily_spent),
      monthly_spent_ngonka: formatNgonka(u.monthly_spent),
      daily_reserved_ngonka: formatNgonka(u.daily_reserved),
      monthly_reserved_ngonka: formatNgonka(u.monthly_reserved),
      daily_remaining_ngonka: formatNullableNgonka(u.daily_remaining),
      monthly_remaining_ngonka: formatNullableNgonka(u.monthly_remaining),
      // Request counts are not money and stay far below 2^53.
      requests_today: Number(u.requests_today),
      requests_this_month: Number(u.requests_this_month),
      day_resets_at: u.day_resets_at.toISOString(),
      month_resets_at: u.month_resets_at.toISOString(),
    },
  };
}
