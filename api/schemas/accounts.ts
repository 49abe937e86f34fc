import { z } from 'zod';
import type { UsageQuery } from '../../shared/accounts/usage.js';
import { ngonkaInput } from '../../shared/money.js';
import { isoInstant, limitDigits, ngonkaString as ngonka } from './common.js';

/**
 * Shapes of the account routes: the responses for /openapi.json, PATCH's body, the usage query.
 */
export const accountResponse = z.object({
  id: z.string(),
  email: z.string(),
  balance_ngonka: ngonka,
  held_ngonka: ngonka,
  available_ngonka: ngonka,
  referral_code: z.string(),
  referred_by: z.string().nullable(),
  created_at: z.string(),
  low_balance_alert_ngonka: ngonka
    .nullable()
    .describe('Below this balance the account.low_balance webhook event is sent (null: no alert)'),
});

// The shape is checked here; whether it is a real calendar day is checked in accountUsage. Usage is
// by UTC day, so an ISO-8601 date-time (API.md's for the management API) counts as its UTC day.
const UTC_DAY = /^\d{4}-\d{2}-\d{2}$/;
const utcDay = z.string().transform((v, c) => {
  if (UTC_DAY.test(v)) return v;
  const at = isoInstant.safeParse(v);
  if (at.success) return at.data.toISOString().slice(0, 10);
  c.addIssue({
    code: 'custom',
    message:
      'must be a UTC date as YYYY-MM-DD, or an ISO-8601 date-time with a timezone (taken as its UTC day)',
  });
  return z.NEVER;
});

/** GET /api/account/usage's query, and a management key's own usage's. */
export const usageQuery = z
  .strictObject({
    from: utcDay
      .optional()
      .describe(
        'First UTC day, YYYY-MM-DD or a date-time taken as its UTC day (default: 29 days before `to`)',
      ),
    to: utcDay
      .optional()
      .describe('Last UTC day, inclusive: YYYY-MM-DD or a date-time taken as its UTC day (default: today)'),
    group_by: z.enum(['day', 'key', 'model']).default('day'),
    // Digits only, as every list's limit.
    limit: limitDigits(1000)
      .optional()
      .meta({ type: 'integer', minimum: 1, maximum: 1000 })
      .describe(
        'With group_by=key: only the keys that cost most, at most this many, most first (an account with tens of thousands of keys answers megabytes without it)',
      ),
  })
  .refine((q) => q.limit === undefined || q.group_by === 'key', {
    message: 'limit is only allowed with group_by=key',
    path: ['limit'],
  });

/** The usage query as accountUsage takes it (the account's, or with `managementKeyId` one key's). */
export const usageOf = (q: z.output<typeof usageQuery>, managementKeyId?: string): UsageQuery => ({
  from: q.from,
  to: q.to,
  groupBy: q.group_by,
  limit: q.limit,
  managementKeyId,
});

export const updateAccountBody = z
  .strictObject({
    low_balance_alert_ngonka: ngonkaInput
      .nullable()
      .optional()
      .describe(
        'Send account.low_balance (once, until the balance is back at or above it) when the balance falls below ' +
          'this many nGNK; null turns the alert off',
      ),
  })
  .refine((b) => Object.keys(b).length > 0, 'Name a setting to change: low_balance_alert_ngonka');

export const ledgerEntryResponse = z.object({
  id: z.string(),
  kind: z.enum(['topup', 'charge', 'referral', 'adjustment']),
  direction: z.enum(['credit', 'debit']),
  amount_ngonka: ngonka,
  balance_after_ngonka: ngonka,
  ref: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: z.string(),
});

export const ledgerEntryDetailResponse = ledgerEntryResponse.extend({
  requests: z
    .array(
      z.object({
        id: z
          .string()
          .describe('The job id of an async job or batch line; the completion id of a sync chat request'),
        key_id: z.string(),
        model: z.string(),
        prompt_tokens: z.number().int().nullable(),
        completion_tokens: z.number().int().nullable(),
        cost_ngonka: ngonka,
        created_at: z.string(),
      }),
    )
    .optional()
    .describe('Charges only: the requests it billed, oldest first'),
});

export const ledgerPageResponse = z.object({
  data: z.array(ledgerEntryResponse),
  next_cursor: z.string().nullable(),
});

export const topupResponse = ledgerEntryResponse.extend({ account_id: z.string() });

const usageTotals = {
  requests: z.number().int(),
  tokens: z.number().int().describe('prompt_tokens + completion_tokens'),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  cost_ngonka: ngonka,
};

export const usageResponse = z.object({
  data: z.array(
    z.union([
      z.object({ day: z.string(), ...usageTotals }),
      z.object({ key_id: z.string(), ...usageTotals }),
      z.object({ model: z.string(), ...usageTotals }),
    ]),
  ),
  from: z.string(),
  to: z.string(),
  group_by: z.enum(['day', 'key', 'model']),
});
