import { isoDay, startOfUtcDay, startOfUtcMonth } from '../../periods.js';
import type { Db } from '../client.js';

/** Settled usage and open reservations of one child key in the UTC day and month of `at`. */
export interface KeyPeriodUsageRow {
  child_key_id: string;
  daily_spent: bigint;
  monthly_spent: bigint;
  daily_reserved: bigint;
  monthly_reserved: bigint;
  requests_today: bigint;
  requests_this_month: bigint;
}

/**
 * One grouped query for any number of keys (a list page costs one round trip, not one per key).
 * Settled usage comes from key_usage_daily; in-flight requests from open holds, by the period they
 * were admitted in. A month is the sum of its days, so the day is a filter on the month's rows.
 * Keys with no usage come back with zeros.
 */
export async function usageForChildKeys(
  db: Db,
  childKeyIds: readonly string[],
  at: Date,
): Promise<Map<string, KeyPeriodUsageRow>> {
  const out = new Map<string, KeyPeriodUsageRow>();
  if (childKeyIds.length === 0) return out;
  const day = isoDay(startOfUtcDay(at));
  const month = isoDay(startOfUtcMonth(at));
  const ids = [...childKeyIds];
  const rows = await db<KeyPeriodUsageRow[]>`
    select k.id as child_key_id,
      coalesce(u.daily_spent, 0)::int8 as daily_spent,
      coalesce(u.monthly_spent, 0)::int8 as monthly_spent,
      coalesce(h.daily_reserved, 0)::int8 as daily_reserved,
      coalesce(h.monthly_reserved, 0)::int8 as monthly_reserved,
      (coalesce(u.daily_requests, 0) + coalesce(h.daily_open, 0))::int8 as requests_today,
      (coalesce(u.monthly_requests, 0) + coalesce(h.monthly_open, 0))::int8 as requests_this_month
    from unnest(${ids}::text[]) as k (id)
    left join (
      select child_key_id,
        sum(cost_ngonka) filter (where day = ${day}::date) as daily_spent,
        sum(cost_ngonka) as monthly_spent,
        sum(requests) filter (where day = ${day}::date) as daily_requests,
        sum(requests) as monthly_requests
      from key_usage_daily
      where child_key_id = any(${ids}::text[])
        and day >= ${month}::date and day < (${month}::date + interval '1 month')
      group by child_key_id
    ) u on u.child_key_id = k.id
    left join (
      select child_key_id,
        sum(amount) filter (where period_day = ${day}::date) as daily_reserved,
        sum(amount) as monthly_reserved,
        count(*) filter (where period_day = ${day}::date) as daily_open,
        count(*) as monthly_open
      from holds
      where status = 'open' and child_key_id = any(${ids}::text[])
        and period_day >= ${month}::date and period_day < (${month}::date + interval '1 month')
      group by child_key_id
    ) h on h.child_key_id = k.id`;
  for (const r of rows) out.set(r.child_key_id, r);
  return out;
}
