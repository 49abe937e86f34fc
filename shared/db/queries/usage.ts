import type { Db } from '../client.js';

export type UsageGroupBy = 'day' | 'key' | 'model';

interface UsageTotals {
  requests: bigint;
  prompt_tokens: bigint;
  completion_tokens: bigint;
  cost_ngonka: bigint;
}

/** One row per group; `group` is the day (YYYY-MM-DD), the child key id or the model. */
export interface UsageRow extends UsageTotals {
  group: string;
}

/**
 * An account's settled usage between two UTC days (inclusive), summed per day, child key or model;
 * optionally only its child keys under one management key.
 * `from`/`to` are YYYY-MM-DD strings so no time zone ever touches the day boundaries.
 */
export async function sumAccountUsage(
  db: Db,
  accountId: string,
  opts: {
    from: string;
    to: string;
    groupBy: UsageGroupBy;
    /** Only the child keys of this management key. */
    managementKeyId?: string | undefined;
    /** The groups that cost most, at most this many, most first (else every group, in order). */
    limit?: number | undefined;
  },
): Promise<UsageRow[]> {
  const ofKey = opts.managementKeyId
    ? db`and child_key_id in (select id from child_keys where management_key_id = ${opts.managementKeyId})`
    : db``;
  const group =
    opts.groupBy === 'day'
      ? db`to_char(day, 'YYYY-MM-DD')`
      : opts.groupBy === 'key'
        ? db`child_key_id`
        : db`model`;
  return db<UsageRow[]>`
    select ${group} as "group",
           sum(requests)::bigint as requests,
           sum(prompt_tokens)::bigint as prompt_tokens,
           sum(completion_tokens)::bigint as completion_tokens,
           sum(cost_ngonka)::bigint as cost_ngonka
    from key_usage_daily
    where account_id = ${accountId} and day between ${opts.from}::date and ${opts.to}::date ${ofKey}
    group by 1
    ${opts.limit === undefined ? db`order by 1` : db`order by cost_ngonka desc, 1 limit ${opts.limit}`}`;
}
