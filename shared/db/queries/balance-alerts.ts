import type { Db } from '../client.js';

/** Set (or, null, remove) an account's low-balance alert; a new threshold is armed afresh. */
export async function setLowBalanceAlert(db: Db, accountId: string, threshold: bigint | null): Promise<void> {
  await db`
    update accounts set low_balance_alert_ngonka = ${threshold}, low_balance_alerted_at = null
    where id = ${accountId}`;
}

export interface LowBalanceRow {
  id: string;
  balance: bigint;
  held: bigint;
  threshold: bigint;
}

/**
 * In one statement, for the accounts with an alert: re-arm those whose balance is back at or above
 * their threshold, and mark (returning them) those whose balance fell below it and were not marked
 * yet. Marked rows are the alerts to send: a concurrent run marks none of them again.
 */
export async function crossLowBalance(db: Db, at: Date): Promise<LowBalanceRow[]> {
  await db`
    update accounts a set low_balance_alerted_at = null
    from ledger_accounts l
    where l.id = a.id and a.low_balance_alert_ngonka is not null and a.low_balance_alerted_at is not null
      and l.balance >= a.low_balance_alert_ngonka`;
  return db<LowBalanceRow[]>`
    update accounts a set low_balance_alerted_at = ${at}
    from ledger_accounts l
    where l.id = a.id and a.low_balance_alert_ngonka is not null and a.low_balance_alerted_at is null
      and l.balance < a.low_balance_alert_ngonka
    returning a.id, l.balance, a.low_balance_alert_ngonka as threshold,
      coalesce((select sum(amount) from holds h where h.account_id = a.id and h.status = 'open'), 0)::bigint as held`;
}
