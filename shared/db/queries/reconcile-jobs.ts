import type { Db } from '../client.js';
import { LIVE_JOB } from './jobs.js';
import { statusIn } from './status-by-id.js';

/** Async jobs and batch lines waiting for or in a node call: each should have its message in the inference queue. */
export async function liveJobIds(db: Db, limit: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select id from jobs where status in ('queued', 'running') order by created_at limit ${limit}`;
  return rows.map((r) => r.id);
}

/** Of these jobs, the ones still queued or running (a second look after a pause). */
export async function stillLiveJobIds(db: Db, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db<{ id: string }[]>`
    select id from jobs where id = any(${ids}::text[]) and ${statusIn(db, 'status', LIVE_JOB)}`;
  return rows.map((r) => r.id);
}

/** Of these jobs, the batch lines (the rest are async jobs). */
export async function batchLineIds(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db<{ id: string }[]>`
    select id from jobs where id = any(${ids}::text[]) and batch_id is not null`;
  return new Set(rows.map((r) => r.id));
}

/**
 * Async jobs not finished yet, by status (the live-jobs partial index): the backlog in jobs, where
 * the inference queue counts messages, each a group of them.
 */
export async function liveJobCounts(db: Db): Promise<{ queued: number; running: number }> {
  const rows = await db<{ status: 'queued' | 'running'; n: number }[]>`
    select status, count(*)::int as n from jobs where status in ('queued', 'running') group by status`;
  const counts = { queued: 0, running: 0 };
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

/**
 * Batches still open (running, finalizing or cancelling) with no line queued or running: nothing
 * in the inference queue will trigger their dispatcher, so a dispatch message must be waiting for
 * each (or they are stalled). Optionally only among `ids` (a second look).
 */
export async function idleOpenBatchIds(db: Db, limit: number, ids?: string[]): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select b.id from batches b
    where b.status in ('in_progress', 'finalizing', 'cancelling')
      ${ids ? db`and b.id = any(${ids}::text[])` : db``}
      and not exists (select 1 from jobs j where j.batch_id = b.id and j.status in ('queued', 'running'))
    order by b.created_at limit ${limit}`;
  return rows.map((r) => r.id);
}
