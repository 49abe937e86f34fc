import type { Context } from '../context.js';

/** How long a credit's marker lives: every resend of the credit happens within it. */
const MARKER_TTL_S = 3600;

/**
 * A credit may be sent again (a top-up replayed, a settlement retried after its commit: the first
 * send may have failed) only this long after it committed, well inside its marker's life, so a
 * resend of one that did land changes nothing. Later, a credit lost that way leaves the balance in
 * Redis tight (never loose) until `npm run reconcile -- --fix`.
 */
export const CREDIT_RESEND_MS = 50 * 60_000;

/** Whether a credit committed at `at` may still be sent again (CREDIT_RESEND_MS). */
export const mayResendCredit = (at: Date, now: Date): boolean =>
  now.getTime() - at.getTime() < CREDIT_RESEND_MS;

/**
 * After a credit committed in Postgres (a top-up, a referral payout), add it to the account's
 * available balance in Redis, once: `creditId` names it, so a resend of the command changes
 * nothing (credit-balance-2.lua). A no-op when Redis has not loaded the account, whose next load
 * then includes the credit.
 */
export async function creditRedisBalance(
  ctx: Context,
  accountId: string,
  amount: bigint,
  creditId: string,
): Promise<void> {
  await ctx.scripts.run(
    'creditBalance',
    [ctx.keys.balance(accountId), ctx.keys.credit(accountId, creditId)],
    [amount.toString(), MARKER_TTL_S],
  );
}
