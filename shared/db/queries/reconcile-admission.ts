import type { ChildKeyState, ManagementKeyState } from '../../admission/key-state.js';
import type { Db } from '../client.js';

/**
 * What admission's Redis state should be, read from the book of record in a few batched queries
 * (reconciliation over many accounts at once). The formulas are those of readAdmissionSnapshot.
 */

export interface AccountAvailableRow {
  id: string;
  available: bigint;
}

/** Balance less open holds, per customer account. */
export async function availableOf(db: Db, accountIds: string[]): Promise<AccountAvailableRow[]> {
  if (accountIds.length === 0) return [];
  return db<AccountAvailableRow[]>`
    select l.id, (l.balance - coalesce(h.held, 0))::int8 as available
    from ledger_accounts l
    left join (select account_id, sum(amount) as held from holds
               where status = 'open' and account_id = any(${accountIds}::text[]) group by account_id) h
      on h.account_id = l.id
    where l.id = any(${accountIds}::text[])`;
}

/** Each account's credits (top-ups, referral payouts, as `kind:ref`) committed after `since`. */
export async function recentCreditIdsOf(
  db: Db,
  accountIds: string[],
  since: Date,
): Promise<{ account: string; id: string }[]> {
  if (accountIds.length === 0) return [];
  return db<{ account: string; id: string }[]>`
    select p.ledger_account_id as account, t.kind || ':' || t.ref as id
    from postings p join transfers t on t.id = p.transfer_id
    where p.ledger_account_id = any(${accountIds}::text[]) and p.amount > 0
      and left(p.ledger_account_id, 4) <> 'sys_' and p.created_at > ${since}
      and t.kind in ('topup', 'referral')`;
}

export interface OpenHoldRow {
  id: string;
  account_id: string;
  child_key_id: string;
  amount: bigint;
  created_at: Date;
  deadline: Date;
}

export async function openHoldsOf(db: Db, accountIds: string[]): Promise<OpenHoldRow[]> {
  if (accountIds.length === 0) return [];
  return db<OpenHoldRow[]>`
    select id, account_id, child_key_id, amount, created_at, deadline from holds
    where status = 'open' and account_id = any(${accountIds}::text[])`;
}

/** Child keys of open holds, with their accounts: their hold records must exist in Redis. */
export async function openHoldKeys(db: Db): Promise<{ id: string; account_id: string }[]> {
  return db<{ id: string; account_id: string }[]>`
    select distinct child_key_id as id, account_id from holds where status = 'open'`;
}

/** Child keys used since `monthStart` or holding open reservations: what --fix rebuilds eagerly. */
export async function keysActiveSince(
  db: Db,
  monthStart: string,
): Promise<{ id: string; account_id: string }[]> {
  return db<{ id: string; account_id: string }[]>`
    select distinct child_key_id as id, account_id from key_usage_daily where day >= ${monthStart}::date
    union
    select distinct child_key_id, account_id from holds where status = 'open'`;
}

/** Each child key's account and management key (scope completion: the parent's Redis state is checked too). */
export async function keyParentsOf(
  db: Db,
  keyIds: string[],
): Promise<{ id: string; account_id: string; management_key_id: string }[]> {
  if (keyIds.length === 0) return [];
  return db<{ id: string; account_id: string; management_key_id: string }[]>`
    select id, account_id, management_key_id from child_keys where id = any(${keyIds}::text[])`;
}

export interface KeyTruthRow extends ChildKeyState {
  /** When its RPM limit was last cleared (readRpmWindow). */
  rpm_limit_cleared_at: Date | null;
  mk_status: ManagementKeyState['status'];
  mk_version: bigint;
  day_used: bigint;
  month_used: bigint;
}

/** Each key's state, its management key's, and its period counters (settled + open holds of the period). */
export async function keyTruthOf(
  db: Db,
  keyIds: string[],
  p: { day: string; monthStart: string; monthEnd: string },
): Promise<KeyTruthRow[]> {
  if (keyIds.length === 0) return [];
  return db<KeyTruthRow[]>`
    select ck.id, ck.account_id, ck.management_key_id, ck.status, ck.limit_daily_ngonka, ck.limit_monthly_ngonka,
           ck.rate_limit_rpm, ck.rpm_limit_cleared_at, ck.expires_at, ck.version,
           ck.key_hash, ck.previous_key_hash, ck.previous_key_expires_at,
           mk.status as mk_status, mk.version as mk_version,
           (coalesce(u.day_spent, 0) + coalesce(h.day_held, 0))::int8 as day_used,
           (coalesce(u.month_spent, 0) + coalesce(h.month_held, 0))::int8 as month_used
    from child_keys ck
    join management_keys mk on mk.id = ck.management_key_id
    left join (select child_key_id, sum(cost_ngonka) filter (where day = ${p.day}::date) as day_spent,
                      sum(cost_ngonka) as month_spent
               from key_usage_daily
               where child_key_id = any(${keyIds}::text[])
                 and day >= ${p.monthStart}::date and day < ${p.monthEnd}::date
               group by child_key_id) u on u.child_key_id = ck.id
    left join (select child_key_id, sum(amount) filter (where period_day = ${p.day}::date) as day_held,
                      sum(amount) as month_held
               from holds
               where status = 'open' and child_key_id = any(${keyIds}::text[])
                 and period_day >= ${p.monthStart}::date and period_day < ${p.monthEnd}::date
               group by child_key_id) h on h.child_key_id = ck.id
    where ck.id = any(${keyIds}::text[])`;
}

/** Status of holds Redis has records of (resolved or unknown ones are leaks). */
export async function holdStatusesOf(db: Db, holdIds: string[]): Promise<Map<string, string>> {
  if (holdIds.length === 0) return new Map();
  const rows = await db<{ id: string; status: string }[]>`
    select id, status from holds where id = any(${holdIds}::text[])`;
  return new Map(rows.map((r) => [r.id, r.status]));
}

/** Holds among `holdIds` that are no longer open, with what each was charged. */
export async function resolvedHoldsAmong(
  db: Db,
  holdIds: string[],
): Promise<{ id: string; account_id: string; child_key_id: string; period_day: string; charged: bigint }[]> {
  if (holdIds.length === 0) return [];
  return db`
    select id, account_id, child_key_id, period_day::text as period_day, coalesce(posted_amount, 0) as charged
    from holds where id = any(${holdIds}::text[]) and status <> 'open'`;
}
