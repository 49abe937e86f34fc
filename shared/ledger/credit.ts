import type { Context } from '../context.js';

/** Long enough to cover any resend of the same command; a credit is never sent again later. */
const MARKER_TTL_S = 3600;

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
