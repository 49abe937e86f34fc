import type { Db } from '../client.js';

/** A limited child key's use of its limits in one UTC day and its month. */
export interface KeyLimitUsageRow {
  id: string;
  account_id: string;
  management_key_id: string;
  name: string;
  metadata: Record<string, unknown>;
  limit_daily_ngonka: bigint | null;
  limit_monthly_ngonka: bigint | null;
  day_settled: bigint;
  month_settled: bigint;
  day_reserved: bigint;
  month_reserved: bigint;
}

/**
 * Active child keys with a non-zero limit whose use of it may have moved: settled since `since`
 * (last_used_at moves with every settlement), limits or status changed since then (a lowered limit
 * crosses a threshold with no new spend), or holding open reservations in the month. Settled
 * spend comes from key_usage_daily, reservations from open holds, by the period they count in.
 */
export async function keyLimitUsage(
  db: Db,
  p: { day: string; monthStart: string; monthEnd: string; since: Date },
): Promise<KeyLimitUsageRow[]> {
  return db<KeyLimitUsageRow[]>`
    with candidates as (
      select id from child_keys
      where status = 'active' and (last_used_at >= ${p.since} or limits_changed_at >= ${p.since})
        and (limit_daily_ngonka > 0 or limit_monthly_ngonka > 0)
      union
      select distinct h.child_key_id from holds h
      where h.status = 'open' and h.period_day >= ${p.monthStart}::date and h.period_day < ${p.monthEnd}::date
    )
    select ck.id, ck.account_id, ck.management_key_id, ck.name, ck.metadata, ck.limit_daily_ngonka, ck.limit_monthly_ngonka,
      coalesce((select sum(cost_ngonka) from key_usage_daily u where u.child_key_id = ck.id and u.day = ${p.day}::date), 0)::int8 as day_settled,
      coalesce((select sum(cost_ngonka) from key_usage_daily u where u.child_key_id = ck.id
                and u.day >= ${p.monthStart}::date and u.day < ${p.monthEnd}::date), 0)::int8 as month_settled,
      coalesce((select sum(amount) from holds h where h.child_key_id = ck.id and h.status = 'open'
                and h.period_day = ${p.day}::date), 0)::int8 as day_reserved,
      coalesce((select sum(amount) from holds h where h.child_key_id = ck.id and h.status = 'open'
                and h.period_day >= ${p.monthStart}::date and h.period_day < ${p.monthEnd}::date), 0)::int8 as month_reserved
    from candidates c join child_keys ck on ck.id = c.id
    where ck.status = 'active' and (ck.limit_daily_ngonka > 0 or ck.limit_monthly_ngonka > 0)`;
}
