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
 * Add settled usage to the per-key per-day aggregates and move `last_used_at` (of the keys no other
 * transaction holds: see below; those it skips are returned, for touchLastUsed after the commit), in
 * the settlement transaction, so `usage` is exactly what the ledger charged. Callers pre-aggregate by
 * (key, day, model) so each row is written once per batch. One statement (a round trip less).
 */
export async function addKeyUsage(db: Db, deltas: UsageDelta[]): Promise<UsageDelta[]> {
  if (deltas.length === 0) return [];
  const touched = await db<{ id: string }[]>`
    with added as (
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
        cost_ngonka = key_usage_daily.cost_ngonka + excluded.cost_ngonka
    )
    update child_keys c set last_used_at = greatest(c.last_used_at, v.at)
    from ${lastUses(db, deltas)}
    where c.id = v.id
      -- A key another transaction holds (its management key's revoke deleting 30,000 children, an
      -- edit) keeps its last_used_at this once rather than stall the batch, which holds the system
      -- ledger accounts' locks meanwhile, and so every account's settlement (scale20: 7 s).
      and c.id in ${unheld(db, deltas)}
    returning c.id`;
  const moved = new Set(touched.map((t) => t.id));
  return deltas.filter((d) => !moved.has(d.childKeyId));
}

/**
 * Move `last_used_at` of the keys addKeyUsage skipped, after the settlement (shared/ledger/last-used.ts),
 * skipping rows still held. The limit alerts find keys to check by it. The ids it moved.
 */
export async function touchLastUsed(db: Db, deltas: UsageDelta[]): Promise<string[]> {
  if (deltas.length === 0) return [];
  const moved = await db<{ id: string }[]>`
    update child_keys c set last_used_at = greatest(c.last_used_at, v.at)
    from ${lastUses(db, deltas)}
    where c.id = v.id
      and c.id in ${unheld(db, deltas)}
    returning c.id`;
  return moved.map((m) => m.id);
}

/** The deltas' keys whose rows no other transaction holds (those held are skipped, not waited for). */
const unheld = (db: Db, deltas: UsageDelta[]) => db`
  (select id from child_keys where id = any(${deltas.map((d) => d.childKeyId)}::text[]) for no key update skip locked)`;

/** Each key's latest use among the deltas, as `v(id, at)`. */
const lastUses = (db: Db, deltas: UsageDelta[]) => db`
  (select id, max(at) as at from unnest(${deltas.map((d) => d.childKeyId)}::text[],
                                        ${deltas.map((d) => d.lastUsedAt.toISOString())}::timestamptz[]) as u(id, at)
   group by id) v`;
