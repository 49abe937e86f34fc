import { z } from 'zod';

/** nGNK per GNK. */
export const NGONKA_PER_GNK = 1_000_000_000n;

/**
 * The largest amount the gateway takes: Postgres's bigint, which holds every balance, limit and
 * hold (Redis's integers stop there too; the admission scripts compare amounts as exact decimal
 * strings, decimal.lua). About 9.2 billion GNK.
 */
export const MAX_NGONKA = 2n ** 63n - 1n;

/** A non-negative integer written as the API writes one: no sign, no leading zero. */
export const CANONICAL_DIGITS = /^(0|[1-9]\d*)$/;

const TOO_LARGE = `must be at most ${MAX_NGONKA} nGNK`;

/**
 * A money input at the edge: a string of digits up to MAX_NGONKA, or a safe JSON integer, never a
 * float, never negative (API.md "Conventions": past 2^53 a JSON number may already have lost
 * digits, so larger amounts come as strings). Produces a bigint.
 */
export const ngonkaInput = z
  .union(
    [
      // Canonical digits, as the API writes amounts: "01" is a typo, not 1. One pattern, so that
      // /openapi.json publishes the rule the server applies; maxLength is MAX_NGONKA's 19 digits.
      z
        .string()
        .regex(CANONICAL_DIGITS, {
          error: (iss) =>
            /^\d+$/.test(String(iss.input))
              ? 'must not start with a 0 (write it as the API does: "1", not "01")'
              : 'must be a non-negative integer string of nGNK',
        })
        .meta({ maxLength: 19 }),
      z
        .number()
        // zod's int() also refuses integers past 2^53, which may already have lost digits.
        .int({
          error: (iss) =>
            Number.isInteger(iss.input)
              ? `must be at most ${Number.MAX_SAFE_INTEGER} as a JSON number; send larger amounts as a string`
              : 'must be an integer',
        })
        .nonnegative('must be non-negative')
        // For /openapi.json only: int() already refuses what is past it.
        .meta({ maximum: Number.MAX_SAFE_INTEGER }),
    ],
    // zod says only "Invalid input" when no branch fits; the branch of the input's own type says why.
    { error: (iss) => (iss.code === 'invalid_union' ? branchMessage(iss.input, iss.errors) : undefined) },
  )
  // A string of more digits than any allowed amount is refused before BigInt spends time on it.
  .transform((v, ctx) => {
    const n = typeof v === 'string' && v.length > 20 ? null : BigInt(v);
    if (n !== null && n <= MAX_NGONKA) return n;
    ctx.addIssue({ code: 'custom', message: TOO_LARGE });
    return z.NEVER;
  })
  .meta({
    description: `nGNK: a string of digits (at most ${MAX_NGONKA}) or a JSON integer (at most ${Number.MAX_SAFE_INTEGER})`,
  });

function branchMessage(input: unknown, errors: readonly (readonly { message: string }[])[]): string {
  const branch = typeof input === 'string' ? 0 : typeof input === 'number' ? 1 : -1;
  return errors[branch]?.[0]?.message ?? 'must be a string of digits or a JSON integer of nGNK';
}

/** The edge form of an amount: a decimal string. */
export function formatNgonka(v: bigint): string {
  return v.toString();
}

export function formatNullableNgonka(v: bigint | null): string | null {
  return v === null ? null : v.toString();
}

/** Amounts in USDT carry at most 6 decimals (the token's own precision). */
export const usdtInput = z
  .union([
    z.string().meta({ pattern: '^\\d{1,12}(\\.\\d{1,6})?$' }),
    z
      .number()
      // A double carries 15 significant decimal digits exactly; past that, what arrived may not be
      // what was sent (123456789012.123456 parses as 123456789012.12346), so it is refused rather
      // than credited rounded.
      .refine(
        (v) => significantDigits(String(v)) <= 15,
        'has more digits than a JSON number carries exactly; send it as a string',
      ),
  ])
  .transform((v) => String(v))
  .refine((v) => /^\d{1,12}(\.\d{1,6})?$/.test(v), 'must be a positive USDT amount with at most 6 decimals')
  .transform((v) => parseMicroUsdt(v))
  .refine((v) => v > 0n, 'must be positive');

/** Significant digits of a number in plain decimal notation (`0.0012` → 2, `1200.5` → 5). */
function significantDigits(decimal: string): number {
  return decimal.replace('.', '').replace(/^0+/, '').length;
}

function parseMicroUsdt(v: string): bigint {
  const [whole = '0', frac = ''] = v.split('.');
  return BigInt(whole) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
}

/** USDT → nGNK at `rate` nGNK per USDT, rounded down (the customer is never credited a fraction). */
export function microUsdtToNgonka(microUsdt: bigint, rateNgonkaPerUsdt: bigint): bigint {
  return (microUsdt * rateNgonkaPerUsdt) / 1_000_000n;
}

/** ceil(a / b) for non-negative bigints. */
export function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/** The smaller of two bigints (Math.min takes numbers only). */
export function minNgonka(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
