import type { Db } from '../client.js';

/** Jobs and batches whose end's event is recorded but not emitted, ended by `cutoff`, oldest first. */
export async function findUnemittedEvents(db: Db, cutoff: Date, limit: number): Promise<string[]> {
  const rows = await db<{ subject_id: string }[]>`
    select subject_id from event_outbox where created_at <= ${cutoff}
    order by created_at, subject_id
    limit ${limit}`;
  return rows.map((r) => r.subject_id);
}

/** Their events were emitted. */
export async function deleteOutboxRows(db: Db, subjectIds: string[]): Promise<void> {
  if (subjectIds.length === 0) return;
  await db`delete from event_outbox where subject_id = any(${subjectIds}::text[])`;
}

/**
 * Whether the end of a job or batch (its `alias` row) is heard: its own webhook_url (a job's:
 * `ownUrl`), or an active endpoint of its account subscribed to `type`. Only then is its event
 * recorded: most ends have no listener, and an outbox row written and deleted for each of them
 * cost Postgres on every job; and a record of one nobody heard would reach an endpoint made later,
 * with news from before it existed.
 */
export function eventHeard(db: Db, alias: string, type: string, opts: { ownUrl: boolean }) {
  const row = db(alias);
  return db`(${opts.ownUrl ? db`${row}.webhook_url is not null or ` : db``}exists (
    select 1 from webhook_endpoints heard_by
    where heard_by.account_id = ${row}.account_id and heard_by.status = 'active' and heard_by.deleted_at is null
      and (${type} = any(heard_by.events) or '*' = any(heard_by.events))))`;
}

/** eventHeard for a job of its own's end. */
export const jobEventHeard = (db: Db, alias: string, type: 'job.succeeded' | 'job.failed') =>
  eventHeard(db, alias, type, { ownUrl: true });
