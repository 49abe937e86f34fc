import type { Sql } from '../../shared/db/client.js';

/** The soak's reads of the book of record, whole (a run writes thousands of rows, not millions). */

export interface HoldRow {
  id: string;
  account_id: string;
  child_key_id: string;
  amount: bigint;
  period_day: string;
  status: 'open' | 'posted' | 'voided';
  posted_amount: bigint | null;
  created_at: Date;
  resolved_at: Date | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  charge_ref: string | null;
  price_ngonka_per_token: bigint;
  markup_bps: number;
}

export interface JobRow {
  id: string;
  child_key_id: string;
  hold_id: string | null;
  batch_id: string | null;
  status: string;
  has_result: boolean;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  cost_ngonka: bigint | null;
  ik: string | null;
}

export interface PostingRow {
  account_id: string;
  kind: 'topup' | 'charge' | 'referral' | 'adjustment';
  amount: bigint;
  balance_after: bigint;
  created_at: Date;
}

export interface Books {
  holds: HoldRow[];
  jobs: JobRow[];
  batches: { id: string; status: string }[];
  /** Postings of customer accounts, in the order they were written. */
  postings: PostingRow[];
  balances: Map<string, bigint>;
  unbalancedTransfers: { id: bigint; sum: bigint }[];
  /** key_usage_daily cost per `key|day`. */
  usage: Map<string, bigint>;
  /** Per referred account: what it was charged, what its referrers were paid from it, what is carried. */
  referrals: ReferralRow[];
}

export interface ReferralRow {
  account_id: string;
  l1: string;
  l2: string | null;
  charged: bigint;
  l1_paid: bigint;
  l2_paid: bigint;
  carry_l1: bigint;
  carry_l2: bigint;
}

export async function readBooks(sql: Sql): Promise<Books> {
  const [holds, jobs, batches, postings, balances, unbalanced, usage, referrals] = await Promise.all([
    sql<HoldRow[]>`
      select id, account_id, child_key_id, amount, to_char(period_day, 'YYYY-MM-DD') as period_day,
             status, posted_amount, created_at, resolved_at, prompt_tokens, completion_tokens,
             charge_ref, price_ngonka_per_token, markup_bps
      from holds order by created_at, id`,
    sql<JobRow[]>`
      select id, child_key_id, hold_id, batch_id, status, result is not null as has_result, usage,
             cost_ngonka, metadata->>'soak_ik' as ik
      from jobs`,
    sql<{ id: string; status: string }[]>`select id, status from batches`,
    sql<PostingRow[]>`
      select p.ledger_account_id as account_id, t.kind, p.amount, p.balance_after, p.created_at
      from postings p join transfers t on t.id = p.transfer_id
      join ledger_accounts l on l.id = p.ledger_account_id
      where l.kind = 'customer' order by p.id`,
    sql<{ id: string; balance: bigint }[]>`select id, balance from ledger_accounts where kind = 'customer'`,
    sql<{ id: bigint; sum: bigint }[]>`
      select transfer_id as id, sum(amount)::int8 as sum from postings
      group by transfer_id having sum(amount) <> 0`,
    sql<{ child_key_id: string; day: string; cost: bigint }[]>`
      select child_key_id, to_char(day, 'YYYY-MM-DD') as day, sum(cost_ngonka)::int8 as cost
      from key_usage_daily group by child_key_id, day`,
    sql<ReferralRow[]>`
      with paid as (
        select t.metadata->>'from_account' as from_account, p.ledger_account_id as to_account,
               sum(p.amount)::int8 as amount
        from transfers t join postings p on p.transfer_id = t.id
        where t.kind = 'referral' and p.amount > 0 group by 1, 2)
      select a.id as account_id, a.referred_by as l1, r.referred_by as l2,
             coalesce((select -sum(p.amount) from postings p join transfers t on t.id = p.transfer_id
                       where t.kind = 'charge' and p.ledger_account_id = a.id), 0)::int8 as charged,
             coalesce((select amount from paid where from_account = a.id and to_account = a.referred_by), 0)::int8 as l1_paid,
             coalesce((select amount from paid where from_account = a.id and to_account = r.referred_by), 0)::int8 as l2_paid,
             a.referral_carry_l1 as carry_l1, a.referral_carry_l2 as carry_l2
      from accounts a left join accounts r on r.id = a.referred_by where a.referred_by is not null`,
  ]);
  return {
    holds,
    jobs,
    batches,
    postings,
    balances: new Map(balances.map((b) => [b.id, b.balance])),
    unbalancedTransfers: unbalanced,
    usage: new Map(usage.map((u) => [`${u.child_key_id}|${u.day}`, u.cost])),
    referrals,
  };
}

/** What is still moving: open holds, jobs and lines not ended, batches not ended. */
export async function liveWork(sql: Sql): Promise<{ holds: number; jobs: number; batches: number }> {
  const [row] = await sql<{ holds: number; jobs: number; batches: number }[]>`
    select (select count(*) from holds where status = 'open')::int as holds,
           (select count(*) from jobs where status in ('pending', 'queued', 'running'))::int as jobs,
           (select count(*) from batches
             where status in ('validating', 'in_progress', 'finalizing', 'cancelling'))::int as batches`;
  return row!;
}

/** Batches not ended yet, with their accounts. */
export function liveBatches(sql: Sql): Promise<{ id: string; account_id: string }[]> {
  return sql<{ id: string; account_id: string }[]>`
    select id, account_id from batches
    where status in ('validating', 'in_progress', 'finalizing', 'cancelling')`;
}
