import type { Context } from '../context.js';
import { type AccountRow, findAccountById } from '../db/queries/accounts.js';
import { getAccountBalance } from '../db/queries/ledger-accounts.js';

/** The account as GET /api/account shows it: money as decimal strings. */
export interface AccountView {
  id: string;
  email: string;
  balance_ngonka: string;
  held_ngonka: string;
  available_ngonka: string;
  referral_code: string;
  referred_by: string | null;
  created_at: string;
  low_balance_alert_ngonka: string | null;
}

export function formatAccount(a: AccountRow, money: { balance: bigint; held: bigint }): AccountView {
  return {
    id: a.id,
    email: a.email,
    balance_ngonka: money.balance.toString(),
    held_ngonka: money.held.toString(),
    // Balance and held come from one snapshot and admission keeps held ≤ balance; the clamp only
    // keeps the edge contract (money is never a negative string) should that ever break.
    available_ngonka: (money.balance > money.held ? money.balance - money.held : 0n).toString(),
    referral_code: a.referral_code,
    referred_by: a.referred_by,
    created_at: a.created_at.toISOString(),
    low_balance_alert_ngonka: a.low_balance_alert_ngonka?.toString() ?? null,
  };
}

/** Null when the account does not exist (a session outliving its account). */
export async function getAccountView(ctx: Context, accountId: string): Promise<AccountView | null> {
  const [account, money] = await Promise.all([
    findAccountById(ctx.sql, accountId),
    getAccountBalance(ctx.sql, accountId),
  ]);
  if (!account || !money) return null;
  return formatAccount(account, money);
}
