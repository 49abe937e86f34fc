import type { Db } from '../client.js';

export interface NewSchedulerEvent {
  /** Makes the event happen once: `key.expired:<key>:<expiry ms>`, `key.limit_threshold:<key>:daily:<day>:80:<limit>`. */
  dedupeKey: string;
  accountId: string;
  type: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** Record events in the caller's transaction; ones already recorded are skipped. Returns how many are new. */
export async function insertSchedulerEvents(db: Db, events: NewSchedulerEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows = await db`
    insert into scheduler_events (dedupe_key, account_id, type, data, created_at)
    select k, a, t, d::jsonb, c
    from unnest(${events.map((e) => e.dedupeKey)}::text[], ${events.map((e) => e.accountId)}::text[],
                ${events.map((e) => e.type)}::text[], ${events.map((e) => JSON.stringify(e.data))}::text[],
                ${events.map((e) => e.createdAt.toISOString())}::timestamptz[]) as v(k, a, t, d, c)
    on conflict (dedupe_key) do nothing
    returning dedupe_key`;
  return rows.length;
}

export interface PendingSchedulerEvent {
  dedupe_key: string;
  account_id: string;
  type: string;
  data: Record<string, unknown>;
}

/**
 * Lock a batch of events not yet handed to the webhook emitter, oldest first (a key's 80% before
 * its 100% raised in the same run: by dedupe key alone "…:100" sorts first). SKIP LOCKED lets two
 * flushers run at once without emitting the same event twice.
 */
export async function claimPendingSchedulerEvents(db: Db, limit: number): Promise<PendingSchedulerEvent[]> {
  return db<PendingSchedulerEvent[]>`
    select dedupe_key, account_id, type, data from scheduler_events
    where emitted_at is null
    order by created_at, (data->>'threshold')::int nulls first, dedupe_key
    limit ${limit}
    for update skip locked`;
}

export async function markSchedulerEventEmitted(db: Db, dedupeKey: string, at: Date): Promise<void> {
  await db`update scheduler_events set emitted_at = ${at} where dedupe_key = ${dedupeKey}`;
}
