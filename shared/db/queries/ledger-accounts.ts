import type { Db } from '../client.js';

/** The system side of every customer transfer (see 001_foundation.sql). */
export const SYSTEM_ACCOUNTS = {
  topups: 'sys_topups',
  revenue: 'sys_revenue',
  upstreamCost: 'sys_upstream_cost',
  /** Goes negative by what referrers were paid from the margin (sys_revenue keeps the gross margin). */
  referralPayouts: 'sys_referral_payouts',
} as const;

export async function createCustomerLedgerAccount(db: Db, accountId: string): Promise<void> {
  await db`insert into ledger_accounts (id, kind) values (${accountId}, 'customer')`;
}

/**
 * Lock the ledger accounts a transaction will post to, in id order so two concurrent transactions
 * always lock in the same order and never deadlock. Returns their balances.
 */
export async function lockLedgerAccounts(db: Db, ids: string[]): Promise<Map<string, bigint>> {
  const sorted = [...new Set(ids)].sort();
  const rows = await db<{ id: string; balance: bigint }[]>`
    select id, balance from ledger_accounts where id = any(${sorted}) order by id for update`;
  return new Map(rows.map((r) => [r.id, r.balance]));
}

export async function setLedgerBalances(db: Db, balances: Map<string, bigint>): Promise<void> {
  if (balances.size === 0) return;
  const ids = [...balances.keys()];
  const values = [...balances.values()].map(String);
  await db`
    update ledger_accounts l set balance = v.balance
    from unnest(${ids}::text[], ${values}::bigint[]) as v(id, balance)
    where l.id = v.id`;
}

export interface AccountBalanceRow {
  balance: bigint;
  held: bigint;
}

/** Balance from the ledger, held from the open holds (no hot counter row on the admission path). */
export async function getAccountBalance(db: Db, accountId: string): Promise<AccountBalanceRow | null> {
  const [row] = await db<AccountBalanceRow[]>`
    select l.balance,
           coalesce((select sum(amount) from holds h where h.account_id = l.id and h.status = 'open'), 0)::bigint as held
    from ledger_accounts l where l.id = ${accountId} and l.kind = 'customer'`;
  return row ?? null;
}
