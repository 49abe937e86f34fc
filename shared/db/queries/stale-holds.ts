import type { Db } from '../client.js';
import type { JobRow, JobStatus } from './jobs.js';

export interface StaleHoldRow {
  hold_id: string;
  account_id: string;
  deadline: Date;
  job_id: string | null;
  job_status: JobStatus | null;
  job_usage: JobRow['usage'];
  /** Set for a batch line. */
  job_batch_id: string | null;
}

/**
 * Open holds nothing will settle any more: past their deadline, or belonging to a job that ended
 * more than `grace` ago (its settlement message was lost). A sync chat hold has no job; an async
 * one has exactly one (jobs.hold_id).
 */
export async function findStaleHolds(
  db: Db,
  now: Date,
  graceMs: number,
  limit: number,
  /** The last hold of the page before (a sweep pages past holds it left alone). */
  after: { deadline: Date; hold_id: string } | null = null,
): Promise<StaleHoldRow[]> {
  const ended = new Date(now.getTime() - graceMs);
  const past = after ? db`and (h.deadline, h.id) > (${after.deadline}, ${after.hold_id})` : db``;
  return db<StaleHoldRow[]>`
    select h.id as hold_id, h.account_id, h.deadline, j.id as job_id, j.status as job_status, j.usage as job_usage,
      j.batch_id as job_batch_id
    from holds h left join jobs j on j.hold_id = h.id
    where h.status = 'open' and (
      h.deadline <= ${now}
      or (j.status in ('succeeded', 'failed', 'cancelled', 'expired') and coalesce(j.completed_at, h.created_at) <= ${ended})
    ) ${past}
    order by h.deadline, h.id
    limit ${limit}`;
}
