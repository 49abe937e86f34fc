import type { Context } from '../context.js';
import { SYSTEM_ACCOUNTS } from '../db/queries/ledger-accounts.js';
import { findEntryByRef, type LedgerEntryRow } from '../db/queries/ledger-entries.js';
import { ApiError } from '../errors.js';
import { MAX_NGONKA } from '../money.js';
import { creditIdOf, creditRedisBalance, mayResendCredit } from './credit.js';
import { postTransfers } from './post-transfers.js';

/** Postgres's numeric_value_out_of_range. */
const NUMERIC_OUT_OF_RANGE = '22003';

export interface TopupInput {
  accountId: string;
  amount: bigint;
  /** The payment's own id (a tx hash, an invoice id): a top-up is posted once per reference. */
  reference: string;
  metadata?: Record<string, unknown>;
  /** The order's amount field, for a refusal's `param`. @default 'amount_ngonka' */
  amountParam?: 'amount_ngonka' | 'amount_usdt';
}

export interface TopupResult {
  entry: LedgerEntryRow;
  /** False when this reference had already been posted and the original entry is returned. */
  created: boolean;
}

/**
 * Credit a customer from the top-up source account, idempotently on `reference`. Replaying the same
 * order returns the first entry; the same reference for a different order (another account, amount
 * or form) is a conflict, never a second credit. A USDT order is the same order whatever nGNK it
 * converts to now: a retry after the rate changed gets the first entry, not a 409.
 */
export async function topup(ctx: Context, input: TopupInput): Promise<TopupResult> {
  const param = input.amountParam ?? 'amount_ngonka';
  if (input.amount <= 0n) throw ApiError.invalid(param, 'amount must be positive');
  const at = ctx.clock.now();
  const posted = await ctx.sql
    .begin(async (tx) => {
      const [transferId] = await postTransfers(
        tx,
        [
          {
            kind: 'topup',
            ref: input.reference,
            metadata: input.metadata ?? {},
            legs: [
              { account: SYSTEM_ACCOUNTS.topups, amount: -input.amount },
              { account: input.accountId, amount: input.amount },
            ],
          },
        ],
        at,
      );
      return transferId != null;
    })
    .catch((err: unknown) => {
      // Postgres's bigint overflowed: this credit would take a balance past MAX_NGONKA, the
      // account's or the top-up source's (which holds every top-up ever made, negated).
      if ((err as { code?: unknown })?.code === NUMERIC_OUT_OF_RANGE)
        throw ApiError.invalid(
          param,
          `this top-up would take a ledger balance past ${MAX_NGONKA} nGNK (the account's, or the total of all top-ups)`,
        );
      throw err;
    });

  const entry = await findEntryByRef(ctx.sql, 'topup', input.reference);
  if (!entry) throw new Error(`top-up ${input.reference} vanished`);
  if (!posted) {
    if (entry.ledger_account_id !== input.accountId || !sameOrder(entry, input))
      throw new ApiError('conflict', 'reference was already used for a different top-up', {
        param: 'reference',
      });
    // The first try may have committed and then failed to reach Redis (its caller got an error
    // and retried): send the credit again; its marker makes this a no-op if it did land (without
    // the marker, Redis reloads the balance: credit-balance-3.lua).
    // Judged by the clock now, not at the start: the transaction may have waited on a lock.
    if (mayResendCredit(entry.created_at, ctx.clock.now()))
      await creditRedisBalance(ctx, input.accountId, entry.amount, creditIdOf('topup', input.reference), {
        resend: true,
      });
    return { entry, created: false };
  }
  // Admission keeps the available balance in Redis; add the credit there too (a no-op when Redis
  // has not loaded this account, which then loads a balance that already includes it).
  await creditRedisBalance(ctx, input.accountId, input.amount, creditIdOf('topup', input.reference), {
    resend: false,
  });
  return { entry, created: true };
}

/** A USDT order is its USDT amount (the rate may have moved since); an nGNK order its nGNK. */
function sameOrder(entry: LedgerEntryRow, input: TopupInput): boolean {
  const usdt = input.metadata?.amount_usdt;
  if (usdt !== undefined) return entry.metadata.amount_usdt === usdt;
  return entry.metadata.amount_usdt === undefined && entry.amount === input.amount;
}
