import type { Db } from '../client.js';

export interface UsageDelta {
  childKeyId: string;
  accountId: string;
  day: string; // YYYY-MM-DD
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cost: bigint;
  lastUsedAt: Date;
}

/**
 * Add settled usage to the per-key per-day aggregates and move `last_used_at`, in the settlement
 * transaction, so `usage` is exactly what the ledger charged. Callers pre-aggregate by
 * (key, day, model) so each row is written once per batch.
 */
export async function addKeyUsage(db: Db, deltas: UsageDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  await db`
    insert into key_usage_daily (child_key_id, day, model, account_id, requests, prompt_tokens, completion_tokens, cost_ngonka)
    select * from unnest(${deltas.map((d) => d.childKeyId)}::text[], ${deltas.map((d) => d.day)}::date[],
                         ${deltas.map((d) => d.model)}::text[], ${deltas.map((d) => d.accountId)}::text[],
                         ${deltas.map((d) => d.requests)}::bigint[], ${deltas.map((d) => d.promptTokens)}::bigint[],
                         ${deltas.map((d) => d.completionTokens)}::bigint[], ${deltas.map((d) => d.cost.toString())}::bigint[])
    order by 1, 2, 3
    on conflict (child_key_id, day, model) do update set
      requests = key_usage_daily.requests + excluded.requests,
      prompt_tokens = key_usage_daily.prompt_tokens + excluded.prompt_tokens,
      completion_tokens = key_usage_daily.completion_tokens + excluded.completion_tokens,
      cost_ngonka = key_usage_daily.cost_ngonka + excluded.cost_ngonka`;
  await db`
    update child_keys c set last_used_at = greatest(c.last_used_at, v.at)
    from (select id, max(at) as at from unnest(${deltas.map((d) => d.childKeyId)}::text[],
                                              ${deltas.map((d) => d.lastUsedAt.toISOString())}::timestamptz[]) as u(id, at)
          group by id) v
    where c.id = v.id`;
}

export interface ReferralChain {
  account_id: string;
  l1: string | null;
  l2: string | null;
}

export async function referralChains(db: Db, accountIds: string[]): Promise<ReferralChain[]> {
  if (accountIds.length === 0) return [];
  return db<ReferralChain[]>`
    select a.id as account_id, a.referred_by as l1, r.referred_by as l2
    from accounts a left join accounts r on r.id = a.referred_by
    where a.id = any(${[...new Set(accountIds)]}) and a.referred_by is not null`;
}
