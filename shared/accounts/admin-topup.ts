import { z } from 'zod';
import type { Context } from '../context.js';
import { findAccountByEmail, findAccountById } from '../db/queries/accounts.js';
import { ApiError } from '../errors.js';
import { formatEntry, type LedgerEntry } from '../ledger/entries.js';
import { entryIdsOf } from '../ledger/entry-ids.js';
import { topup } from '../ledger/topup.js';
import { MAX_NGONKA, microUsdtToNgonka, ngonkaInput, usdtInput } from '../money.js';

function isPrintable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/**
 * A top-up order as the admin route and `scripts/topup.ts` both take it: exactly one of
 * account_id/email and exactly one of amount_ngonka/amount_usdt (checked in adminTopup, so the 400
 * can name the field).
 */
export const adminTopupBody = z.strictObject({
  account_id: z
    .string()
    .regex(/^[\w-]{1,100}$/, 'must be an account id')
    .optional()
    .describe('The account to credit: exactly one of account_id and email'),
  email: z
    .string()
    .trim()
    .toLowerCase()
    .max(254)
    .pipe(z.email())
    .optional()
    .describe('The account to credit by its email address: exactly one of account_id and email')
    .meta({ format: 'email' }),
  amount_ngonka: ngonkaInput
    .optional()
    .describe('nGNK to credit, at least 1: exactly one of amount_ngonka and amount_usdt'),
  amount_usdt: usdtInput
    .optional()
    .describe(
      'USDT to credit at USDT_RATE_NGONKA nGNK each (rounded down): more than 0, at most 6 decimals, as a string or a JSON number; exactly one of amount_ngonka and amount_usdt',
    ),
  /**
   * The payment's own id; the top-up is posted once per reference. Printable only: Postgres text
   * cannot hold NUL, and a control character in a payment id is a typo.
   */
  reference: z.string().min(1).max(200).refine(isPrintable, 'must not contain control characters'),
});

export type AdminTopupOrder = z.output<typeof adminTopupBody>;

export interface AdminTopupResult {
  entry: LedgerEntry & { account_id: string };
  /** False when the reference had been posted before and the original entry came back. */
  created: boolean;
}

function exactlyOne(a: unknown, b: unknown, first: string, second: string): void {
  if (a === undefined && b === undefined)
    throw ApiError.invalid(first, `one of ${first} or ${second} is required`);
  if (a !== undefined && b !== undefined)
    throw ApiError.invalid(second, `give only one of ${first} or ${second}`);
}

/** USDT is converted at the configured rate, and the rate travels with the entry's metadata. */
function amountOf(
  ctx: Context,
  order: AdminTopupOrder,
): { amount: bigint; metadata: Record<string, string> } {
  if (order.amount_ngonka !== undefined) {
    if (order.amount_ngonka <= 0n) throw ApiError.invalid('amount_ngonka', 'amount_ngonka must be positive');
    return { amount: order.amount_ngonka, metadata: {} };
  }
  const micro = order.amount_usdt ?? 0n;
  const rate = ctx.config.USDT_RATE_NGONKA;
  const amount = microUsdtToNgonka(micro, rate);
  if (amount <= 0n) throw ApiError.invalid('amount_usdt', 'amount_usdt converts to zero nGNK');
  if (amount > MAX_NGONKA) throw ApiError.invalid('amount_usdt', 'amount_usdt is too large');
  return { amount, metadata: { amount_usdt: formatMicroUsdt(micro), usdt_rate_ngonka: rate.toString() } };
}

/** 12500000 → "12.5": the shortest exact decimal form. */
function formatMicroUsdt(micro: bigint): string {
  const whole = micro / 1_000_000n;
  const frac = (micro % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole.toString();
}

/**
 * Resolve the account, compute the nGNK amount and post the top-up, idempotently on `reference`
 * (a replay returns the original entry; the same reference for another account or amount is 409).
 */
export async function adminTopup(ctx: Context, order: AdminTopupOrder): Promise<AdminTopupResult> {
  exactlyOne(order.account_id, order.email, 'account_id', 'email');
  exactlyOne(order.amount_ngonka, order.amount_usdt, 'amount_ngonka', 'amount_usdt');
  const { amount, metadata } = amountOf(ctx, order);
  const account =
    order.account_id !== undefined
      ? await findAccountById(ctx.sql, order.account_id)
      : await findAccountByEmail(ctx.sql, order.email ?? '');
  if (!account) throw ApiError.notFound('Account');

  const { entry, created } = await topup(ctx, {
    accountId: account.id,
    amount,
    reference: order.reference,
    metadata,
    amountParam: order.amount_usdt !== undefined ? 'amount_usdt' : 'amount_ngonka',
  });
  return { entry: { ...formatEntry(entry, await entryIdsOf(ctx.sql)), account_id: account.id }, created };
}
