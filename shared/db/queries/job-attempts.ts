import type { Db } from '../client.js';
import type { ChildKeyStatus } from './child-keys.js';
import { jobEventHeard } from './event-outbox.js';
import { type JobRow, LIVE_JOB } from './jobs.js';
import { statusIn } from './status-by-id.js';

/**
 * The inference worker's reads and writes, each for many jobs at once: the worker groups the
 * attempts that start and finish together (GroupCommit), so a busy worker pays one round trip per
 * group instead of per job.
 *
 * An attempt starts with a read, not a write: a job is marked `running` only once its node call
 * has lasted INFERENCE_RUNNING_MARK_MS (markJobsRunning), and an attempt that ends sooner records
 * its attempt number and start time with its outcome. A fast job is written twice (accepted,
 * finished) instead of three times; every job update re-inserts into each of the table's indexes,
 * so the write that nobody could have observed was a fifth of the async path's Postgres work.
 */

/** A runnable job as an attempt starts: with the terms of its hold (null without one). */
export interface StartedJobRow extends JobRow {
  hold_status: 'open' | 'posted' | 'voided' | null;
  hold_amount: bigint | null;
  hold_price_ngonka_per_token: bigint | null;
  hold_markup_bps: number | null;
  /** A batch line's batch: when it began cancelling (null if not), and when its window closes. */
  batch_cancelling_at: Date | null;
  batch_expires_at: Date | null;
  /** Its child key's standing now (the book of record; the worker refuses a stopped key's job). */
  key_status: ChildKeyStatus;
  key_expires_at: Date | null;
  mk_status: 'active' | 'disabled' | 'revoked';
}

/**
 * The jobs among `ids` still runnable (queued, or running after a crash), each with its hold's
 * terms (and a batch line with its batch's end, if it is ending). A job missing from the result is
 * no longer runnable (cancelled, finished).
 */
export async function readJobsToRun(db: Db, ids: string[]): Promise<StartedJobRow[]> {
  if (ids.length === 0) return [];
  return db<StartedJobRow[]>`
    select j.*, h.status as hold_status, h.amount as hold_amount,
           h.price_ngonka_per_token as hold_price_ngonka_per_token, h.markup_bps as hold_markup_bps,
           b.cancelling_at as batch_cancelling_at, b.expires_at as batch_expires_at,
           ck.status as key_status, ck.expires_at as key_expires_at, mk.status as mk_status
    from jobs j left join holds h on h.id = j.hold_id left join batches b on b.id = j.batch_id
      join child_keys ck on ck.id = j.child_key_id join management_keys mk on mk.id = j.management_key_id
    where j.id = any(${ids}::text[]) and ${statusIn(db, 'j.status', LIVE_JOB)}`;
}

/** Which attempt of a job this is (1 for the first), and when it started. */
export interface AttemptMark {
  id: string;
  attempt: number;
  startedAt: Date;
}

/**
 * Jobs whose node call is taking a while become visibly `running`, with the attempt they are on
 * (set, not incremented: a mark written twice counts once). A job that ended meanwhile is left alone.
 */
export async function markJobsRunning(db: Db, marks: AttemptMark[]): Promise<void> {
  if (marks.length === 0) return;
  await db`
    update jobs j set status = 'running', attempts = greatest(j.attempts, v.attempt),
      started_at = coalesce(j.started_at, v.started_at)
    from jsonb_to_recordset(${db.json(marks.map(attemptJson) as never)}::jsonb)
      as v(id text, attempt int, started_at timestamptz)
    where j.id = v.id and ${statusIn(db, 'j.status', LIVE_JOB)}`;
}

/**
 * A failed attempt with more to come: the job stays where it is, counting the attempt. Returns
 * null when it did, else the status that ended it during the call (no attempt will follow).
 */
export async function recordAttempt(db: Db, m: AttemptMark): Promise<JobRow['status'] | null> {
  const [row] = await db<{ recorded: boolean; status: JobRow['status'] }[]>`
    with recorded as (
      update jobs set attempts = greatest(attempts, ${m.attempt}), started_at = coalesce(started_at, ${m.startedAt})
      where id = ${m.id} and ${statusIn(db, 'status', LIVE_JOB)}
      returning id
    )
    select exists (select 1 from recorded) as recorded, (select status from jobs where id = ${m.id}) as status`;
  return !row || row.recorded ? null : row.status;
}

export interface JobCompletion extends AttemptMark {
  result: Record<string, unknown>;
  usage: NonNullable<JobRow['usage']>;
  cost: bigint;
  at: Date;
}

/**
 * Record nodes' answers, many in one statement (one durable commit), as one JSON document (no
 * per-field array escaping). Only a job still queued or running finishes; a cancelled one keeps
 * its status. Returns the ids that finished.
 */
export async function completeJobs(db: Db, done: JobCompletion[]): Promise<string[]> {
  if (done.length === 0) return [];
  const doc = done.map((d) => ({
    ...attemptJson(d),
    result: d.result,
    usage: d.usage,
    cost: d.cost.toString(),
    at: d.at.toISOString(),
  }));
  // A job of its own (not a batch line) records its job.succeeded event with its end (event_outbox),
  // when anyone hears it.
  const rows = await db<{ id: string }[]>`
    with done as (
      update jobs j set status = 'succeeded', result = v.result, usage = v.usage, cost_ngonka = v.cost,
        completed_at = v.at, error = null, attempts = greatest(j.attempts, v.attempt),
        started_at = coalesce(j.started_at, v.started_at)
      from jsonb_to_recordset(${db.json(doc as never)}::jsonb)
        as v(id text, attempt int, started_at timestamptz, result jsonb, usage jsonb, cost bigint, at timestamptz)
      where j.id = v.id and ${statusIn(db, 'j.status', LIVE_JOB)}
      returning j.id, j.batch_id, j.completed_at, j.account_id, j.webhook_url
    ), events as (
      insert into event_outbox (subject_id, created_at)
      select id, completed_at from done d where batch_id is null and ${jobEventHeard(db, 'd', 'job.succeeded')}
      on conflict do nothing
    )
    select id from done`;
  return rows.map((r) => r.id);
}

function attemptJson(m: AttemptMark): { id: string; attempt: number; started_at: string } {
  return { id: m.id, attempt: m.attempt, started_at: m.startedAt.toISOString() };
}
