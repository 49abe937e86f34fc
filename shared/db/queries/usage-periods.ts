import type { Db, TxSql } from '../client.js';

export type PeriodKind = 'day' | 'month';
const STEP = { day: '1 day', month: '1 month' } as const;

/**
 * Past periods (YYYY-MM-DD, a month as its 1st) not closed yet, oldest first: everything from the
 * oldest period still `closing`, else the one after the newest closed, else the first with any
 * usage or hold, up to and excluding `before`. This is how the rollover catches up after downtime.
 */
export async function periodsToClose(
  db: Db,
  kind: PeriodKind,
  before: string,
  limit: number,
): Promise<string[]> {
  const rows = await db<{ period: string }[]>`
    with st as (
      select coalesce(
        (select min(period) from usage_periods where kind = ${kind} and status = 'closing'),
        (select (max(period) + ${STEP[kind]}::interval)::date from usage_periods where kind = ${kind} and status = 'closed'),
        (select date_trunc(${kind}, least((select min(day) from key_usage_daily),
                                          (select min(period_day) from holds))::timestamp)::date)
      ) as start
    )
    select to_char(g, 'YYYY-MM-DD') as period
    from st, generate_series(st.start::timestamp, ${before}::date - ${STEP[kind]}::interval,
                             ${STEP[kind]}::interval) g
    where not exists (select 1 from usage_periods p
                      where p.kind = ${kind} and p.period = g::date and p.status = 'closed')
    order by g
    limit ${limit}`;
  return rows.map((r) => r.period);
}

/** The oldest period still waiting for open holds, if any: its Redis counters must stay. */
export async function oldestClosingPeriod(db: Db, kind: PeriodKind): Promise<string | null> {
  const [row] = await db<{ period: string | null }[]>`
    select to_char(min(period), 'YYYY-MM-DD') as period from usage_periods where kind = ${kind} and status = 'closing'`;
  return row?.period ?? null;
}

/**
 * Close one UTC day: its totals from key_usage_daily, `closed` when no hold admitted that day is
 * still open (else `closing`, and the next run looks again). A closed day is never reopened.
 */
export async function closeDay(db: Db, day: string, now: Date): Promise<'closed' | 'closing'> {
  return recordPeriod(db, 'day', day, now);
}

/**
 * Close one UTC month (call inside a REPEATABLE READ transaction, so the rows and the hold check
 * agree): per key and model, the sum of its days goes to key_usage_monthly; the month is `closed`
 * once no hold admitted in it is open. Upserts, so re-running while `closing` only refreshes.
 */
export async function closeMonth(tx: TxSql, month: string, now: Date): Promise<'closed' | 'closing'> {
  const end = tx`(${month}::date + interval '1 month')::date`;
  await tx`
    insert into key_usage_monthly as m (child_key_id, month, model, account_id, requests, prompt_tokens,
                                        completion_tokens, cost_ngonka)
    select child_key_id, ${month}::date, model, min(account_id), sum(requests), sum(prompt_tokens),
           sum(completion_tokens), sum(cost_ngonka)
    from key_usage_daily where day >= ${month}::date and day < ${end}
    group by child_key_id, model
    on conflict (child_key_id, month, model) do update set requests = excluded.requests,
      prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
      cost_ngonka = excluded.cost_ngonka`;
  return recordPeriod(tx, 'month', month, now);
}

/**
 * The usage_periods row of one period: its totals from the usage table of its kind (a month's
 * key_usage_monthly rows must be written first), `closed` once no hold admitted in the period is
 * open, else `closing`. One statement, so the hold check and the totals see the same snapshot.
 * Upserts only over a `closing` row, so a closed period is never reopened.
 */
async function recordPeriod(
  db: Db,
  kind: PeriodKind,
  period: string,
  now: Date,
): Promise<'closed' | 'closing'> {
  // Chosen by kind, never by input: a period's totals come from its own usage table.
  const usage =
    kind === 'day'
      ? db`key_usage_daily u on u.day = ${period}::date`
      : db`key_usage_monthly u on u.month = ${period}::date`;
  const [row] = await db<{ status: 'closed' | 'closing' }[]>`
    with open as (select exists (select 1 from holds where status = 'open'
                                 and period_day >= ${period}::date
                                 and period_day < (${period}::date + ${STEP[kind]}::interval)::date) as any)
    insert into usage_periods as p (kind, period, status, keys, requests, cost_ngonka, first_closed_at, closed_at)
    select ${kind}, ${period}::date, case when open.any then 'closing' else 'closed' end,
           count(distinct u.child_key_id), coalesce(sum(u.requests), 0), coalesce(sum(u.cost_ngonka), 0),
           ${now}, case when open.any then null else ${now}::timestamptz end
    from open left join ${usage}
    group by open.any
    on conflict (kind, period) do update set status = excluded.status, keys = excluded.keys,
      requests = excluded.requests, cost_ngonka = excluded.cost_ngonka, closed_at = excluded.closed_at
    where p.status = 'closing'
    returning p.status`;
  return row?.status ?? 'closed';
}
