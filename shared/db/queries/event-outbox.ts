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
