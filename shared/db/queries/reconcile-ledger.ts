import type { Db } from '../client.js';
import type { JobRow } from './jobs.js';

/** Postgres-only reconciliation queries: the ledger's invariants and holds against jobs. */

export async function unbalancedTransfers(db: Db, limit: number): Promise<{ id: bigint; sum: bigint }[]> {
  return db<{ id: bigint; sum: bigint }[]>`
    select transfer_id as id, sum(amount)::int8 as sum from postings
    group by transfer_id having sum(amount) <> 0
    order by transfer_id limit ${limit}`;
}

export interface BalanceMismatchRow {
  id: string;
  balance: bigint;
  postings: bigint;
}

export async function balanceMismatches(db: Db, limit: number): Promise<BalanceMismatchRow[]> {
  return db<BalanceMismatchRow[]>`
    select l.id, l.balance, coalesce(p.sum, 0)::int8 as postings
    from ledger_accounts l
    left join (select ledger_account_id, sum(amount) as sum from postings group by ledger_account_id) p
      on p.ledger_account_id = l.id
    where l.balance <> coalesce(p.sum, 0)
    order by l.id limit ${limit}`;
}

/** Customers whose open holds exceed their balance (available may never go below zero). */
export async function overHeldAccounts(
  db: Db,
  limit: number,
): Promise<{ id: string; balance: bigint; held: bigint }[]> {
  return db<{ id: string; balance: bigint; held: bigint }[]>`
    select l.id, l.balance, h.held::int8 as held
    from (select account_id, sum(amount) as held from holds where status = 'open' group by account_id) h
    join ledger_accounts l on l.id = h.account_id
    where h.held > l.balance
    order by l.id limit ${limit}`;
}

export interface HoldJobMismatchRow {
  hold_id: string | null;
  job_id: string | null;
  hold_status: string | null;
  job_status: string | null;
  /** The usage a job recorded as it finished (a succeeded job's bill is on its row). */
  job_usage: JobRow['usage'];
  problem: 'hold_past_deadline' | 'hold_of_finished_job' | 'live_job_without_open_hold';
}

/**
 * Open holds must match live work: an async hold ↔ its job queued or running, a sync hold (no job)
 * not past its deadline. `grace` leaves room for settlement in flight.
 */
export async function holdJobMismatches(
  db: Db,
  now: Date,
  graceMs: number,
  limit: number,
): Promise<HoldJobMismatchRow[]> {
  const cutoff = new Date(now.getTime() - graceMs);
  return db<HoldJobMismatchRow[]>`
    (select h.id as hold_id, j.id as job_id, h.status as hold_status, j.status as job_status, j.usage as job_usage,
            case when j.status in ('succeeded', 'failed', 'cancelled', 'expired') then 'hold_of_finished_job'
                 else 'hold_past_deadline' end as problem
     from holds h left join jobs j on j.hold_id = h.id
     where h.status = 'open' and (
       h.deadline <= ${cutoff}
       or (j.status in ('succeeded', 'failed', 'cancelled', 'expired') and coalesce(j.completed_at, h.created_at) <= ${cutoff}))
     order by h.id limit ${limit})
    union all
    (select h.id, j.id, h.status, j.status, j.usage, 'live_job_without_open_hold'
     from jobs j left join holds h on h.id = j.hold_id
     where j.status in ('queued', 'running') and (h.id is null or h.status <> 'open') and j.created_at <= ${cutoff}
     order by j.id limit ${limit})`;
}

export interface ClosedPeriodMismatchRow {
  kind: 'day' | 'month';
  period: string;
  recorded: bigint;
  actual: bigint;
}

/**
 * A closed period is final: its recorded total (and, for a month, its key_usage_monthly rows) must
 * still equal the sum of its key_usage_daily rows. A difference means usage landed after closing.
 * Only periods from `since` on are checked; older ones were checked when they were recent.
 */
export async function closedPeriodMismatches(
  db: Db,
  since: string,
  limit: number,
): Promise<ClosedPeriodMismatchRow[]> {
  return db<ClosedPeriodMismatchRow[]>`
    with p as (
      select kind, period, cost_ngonka,
             (period + case when kind = 'day' then interval '1 day' else interval '1 month' end)::date as period_end
      from usage_periods where status = 'closed' and period >= ${since}::date
    ), totals as (
      select p.kind, p.period,
             case when p.kind = 'day' then p.cost_ngonka
                  else coalesce((select sum(cost_ngonka) from key_usage_monthly m where m.month = p.period), 0)
             end::int8 as recorded,
             coalesce((select sum(cost_ngonka) from key_usage_daily u
                       where u.day >= p.period and u.day < p.period_end), 0)::int8 as actual
      from p
    )
    select kind, to_char(period, 'YYYY-MM-DD') as period, recorded, actual
    from totals where recorded <> actual
    order by period limit ${limit}`;
}

export interface ChargeMismatchRow {
  ref: string;
  charged: bigint;
  /** What the holds naming the charge were posted at, together. */
  holds_total: bigint;
  /** Requests the charge says it billed, and holds that name it. */
  requests: number;
  holds: number;
}

/**
 * Each charge booked since `since` (one per account per settlement batch) must equal the holds it
 * billed: its customer leg is the sum of their posted amounts, and it names as many requests as
 * hold rows name it. Charges and holds are immutable once booked, so a recent window catches a
 * wrong one for good. Charges from before migration 010 (one per request) are not in that form.
 */
export async function chargeMismatches(db: Db, since: Date, limit: number): Promise<ChargeMismatchRow[]> {
  return db<ChargeMismatchRow[]>`
    select c.ref, c.charged, h.total::int8 as holds_total, c.requests, h.n as holds
    from (
      select t.ref, (t.metadata->>'requests')::int as requests,
             coalesce((select -sum(p.amount) from postings p join ledger_accounts l on l.id = p.ledger_account_id
                       where p.transfer_id = t.id and l.kind = 'customer'), 0)::int8 as charged
      from transfers t
      where t.kind = 'charge' and t.created_at >= ${since} and t.metadata ? 'requests'
    ) c
    cross join lateral (
      select coalesce(sum(posted_amount), 0) as total, count(*)::int as n from holds where charge_ref = c.ref
    ) h
    where c.charged <> h.total or c.requests <> h.n
    order by c.ref limit ${limit}`;
}

export interface UsageMismatchRow {
  child_key_id: string;
  account_id: string;
  day: string;
  /** What the key's posted holds of the day add up to: the immutable record. */
  holds_cost: bigint;
  holds_requests: bigint;
  /** What key_usage_daily says (limits, usage and closed periods are read from it). */
  usage_cost: bigint;
  usage_requests: bigint;
}

/**
 * Child keys whose daily usage rows (summed over models) differ from their posted holds of that
 * day, for the days from `fromDay` (a hold counts on the day that admitted it, its created_at's,
 * so the scan reads the BRIN index on created_at). One statement: a settlement moves both in one
 * transaction, so no settlement in flight shows as a difference.
 */
export async function usageMismatches(db: Db, from: Date, limit: number): Promise<UsageMismatchRow[]> {
  const fromDay = from.toISOString().slice(0, 10);
  return db<UsageMismatchRow[]>`
    with h as (
      select child_key_id, period_day as day, count(*) as requests, sum(posted_amount) as cost
      from holds
      where created_at >= ${from} and period_day >= ${fromDay}::date and status = 'posted'
      group by child_key_id, period_day
    ), u as (
      select child_key_id, day, sum(requests) as requests, sum(cost_ngonka) as cost
      from key_usage_daily where day >= ${fromDay}::date
      group by child_key_id, day
    ), diff as (
      select coalesce(h.child_key_id, u.child_key_id) as child_key_id, coalesce(h.day, u.day) as day,
             coalesce(h.cost, 0)::int8 as holds_cost, coalesce(h.requests, 0)::int8 as holds_requests,
             coalesce(u.cost, 0)::int8 as usage_cost, coalesce(u.requests, 0)::int8 as usage_requests
      from h full join u on u.child_key_id = h.child_key_id and u.day = h.day
      where coalesce(h.cost, 0) <> coalesce(u.cost, 0) or coalesce(h.requests, 0) <> coalesce(u.requests, 0)
    )
    select d.child_key_id, ck.account_id, to_char(d.day, 'YYYY-MM-DD') as day,
           d.holds_cost, d.holds_requests, d.usage_cost, d.usage_requests
    from diff d join child_keys ck on ck.id = d.child_key_id
    order by d.day, d.child_key_id limit ${limit}`;
}
