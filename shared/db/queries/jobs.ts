import type { Db } from '../client.js';
import { jobEventHeard } from './event-outbox.js';
import { HOLD_COLUMNS, holdRows, type NewHold } from './holds.js';
import type { AttemptMark } from './job-attempts.js';
import { statusIn } from './status-by-id.js';

export type JobStatus = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'expired';

/** The statuses a listed job can have (a batch line's `pending` is never one). */
export const JOB_LIST_STATUSES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'expired',
] as const satisfies readonly JobStatus[];

/** A job waiting for or in a node call. */
export const LIVE_JOB: JobStatus[] = ['queued', 'running'];
/** A job that can still end: a batch line not dispatched yet, or a live job. */
export const UNFINISHED: JobStatus[] = ['pending', ...LIVE_JOB];

export interface JobRow {
  id: string;
  account_id: string;
  management_key_id: string;
  child_key_id: string;
  hold_id: string | null;
  batch_id: string | null;
  custom_id: string | null;
  line_no: number | null;
  status: JobStatus;
  model: string;
  request: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: Record<string, unknown> | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  cost_ngonka: bigint | null;
  webhook_url: string | null;
  metadata: Record<string, unknown>;
  attempts: number;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

export interface NewJob {
  id: string;
  accountId: string;
  managementKeyId: string;
  childKeyId: string;
  holdId: string;
  model: string;
  request: Record<string, unknown>;
  webhookUrl: string | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
}

/**
 * Accepted async jobs and their holds, in one statement and one durable commit for the whole group
 * (see JobWriter): a 202 promises the job, so unlike sync chat's holds this commit waits for the
 * disk. The jobs reference holds inserted by the same statement, which the foreign key accepts.
 */
export async function insertJobsWithHolds(
  db: Db,
  rows: readonly { hold: NewHold; job: NewJob }[],
): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (j: NewJob) => T) => rows.map((r) => f(r.job));
  const holds = rows.map((r) => r.hold);
  await db`
    with new_holds as (
      insert into holds (${db.unsafe(HOLD_COLUMNS)}) select * from ${holdRows(db, holds)}
    )
    insert into jobs (id, account_id, management_key_id, child_key_id, hold_id, status, model, request,
                      webhook_url, metadata, created_at)
    select id, account_id, management_key_id, child_key_id, hold_id, 'queued', model, request::jsonb,
           webhook_url, metadata::jsonb, created_at
    from unnest(${col((j) => j.id)}::text[], ${col((j) => j.accountId)}::text[],
                ${col((j) => j.managementKeyId)}::text[], ${col((j) => j.childKeyId)}::text[],
                ${col((j) => j.holdId)}::text[], ${col((j) => j.model)}::text[],
                ${col((j) => JSON.stringify(j.request))}::text[], ${col((j) => j.webhookUrl)}::text[],
                ${col((j) => JSON.stringify(j.metadata))}::text[],
                ${col((j) => j.createdAt.toISOString())}::timestamptz[])
      as j(id, account_id, management_key_id, child_key_id, hold_id, model, request, webhook_url, metadata,
           created_at)`;
}

export async function findJob(db: Db, id: string): Promise<JobRow | null> {
  const [row] = await db<JobRow[]>`select * from jobs where id = ${id}`;
  return row ? (await withEndedBills(db, [row]))[0]! : null;
}

/**
 * A job cancelled during its node call has no cost until its hold is settled (cancelJob): its
 * worker records the bill with the answer (recordEndedJobBill), but a hold voided by another hand
 * (the call failed, the worker died and the message was skipped, the stale-hold sweeper) records
 * none. Such a job shows what its settled hold says: 0 when voided. Still open: null.
 */
async function withEndedBills(db: Db, rows: JobRow[]): Promise<JobRow[]> {
  const unbilled = rows.filter((r) => r.status === 'cancelled' && r.cost_ngonka === null && r.hold_id);
  if (unbilled.length === 0) return rows;
  const settled = await db<{ id: string; posted_amount: bigint | null }[]>`
    select id, posted_amount from holds where id = any(${unbilled.map((r) => r.hold_id!)}::text[]) and status <> 'open'`;
  // Only unbilled jobs' holds were read, and a hold is one job's.
  const bills = new Map(settled.map((h) => [h.id, h.posted_amount ?? 0n]));
  return rows.map((r) => {
    const bill = r.hold_id ? bills.get(r.hold_id) : undefined;
    return bill === undefined ? r : { ...r, cost_ngonka: bill };
  });
}

/** End a job that is not finished yet with a visible error (failed, expired, or cancelled with its batch). */
export async function failJob(
  db: Db,
  id: string,
  f: {
    status: 'failed' | 'expired' | 'cancelled';
    error: Record<string, unknown>;
    at: Date;
    /** The attempt that failed, when a worker ran one (its number and start). */
    attempt?: Omit<AttemptMark, 'id'>;
  },
): Promise<JobRow | null> {
  // A failed or expired job of its own (not a batch line) records its job.failed event with its
  // end (event_outbox).
  const [row] = await db<JobRow[]>`
    with ended as (
      update jobs set status = ${f.status}, error = ${db.json(f.error as never)}, completed_at = ${f.at}, cost_ngonka = 0,
        attempts = greatest(attempts, ${f.attempt?.attempt ?? 0}),
        started_at = coalesce(started_at, ${f.attempt?.startedAt ?? null}::timestamptz)
      where id = ${id} and ${statusIn(db, 'status', UNFINISHED)}
      returning *
    ), events as (
      insert into event_outbox (subject_id, created_at)
      select id, completed_at from ended j
      where status in ('failed', 'expired') and batch_id is null and ${jobEventHeard(db, 'j', 'job.failed')}
      on conflict do nothing
    )
    select * from ended`;
  return row ?? null;
}

/**
 * What a job that ended during its node call (cancelled; a batch line expired or cancelled with
 * its batch; failed by another run of it) was billed, read from its settled hold: the charge it
 * posted with the node's usage, or nothing when the hold had been voided first. A charge is never
 * hidden behind a job that shows none.
 */
export async function recordEndedJobBill(
  db: Db,
  id: string,
  usage: Record<string, number>,
  result: Record<string, unknown>,
): Promise<void> {
  // The answer it was billed for goes with the bill: a charge for a completion the client can
  // never read would be a charge for nothing.
  await db`
    update jobs j set cost_ngonka = coalesce(h.posted_amount, 0),
      usage = case when h.status = 'posted' then ${db.json(usage)}::jsonb end,
      result = case when h.status = 'posted' then ${db.json(result as never)}::jsonb end
    from holds h
    where j.id = ${id} and h.id = j.hold_id and j.status in ('cancelled', 'expired', 'failed')
      and h.status <> 'open'`;
}

/**
 * The open hold of a job that has ended, with how it ended, or null: one cancelled or expired
 * before any run of it read it, or one whose run recorded its end (succeeded with its usage, or
 * failed) and lost the commit's answer before it settled. The worker that finds it ended settles it.
 */
export async function openHoldOfEndedJob(
  db: Db,
  id: string,
): Promise<{ hold_id: string; status: JobStatus; usage: JobRow['usage'] } | null> {
  const [row] = await db<{ hold_id: string; status: JobStatus; usage: JobRow['usage'] }[]>`
    select j.hold_id, j.status, j.usage from jobs j join holds h on h.id = j.hold_id
    where j.id = ${id} and j.status in ('cancelled', 'expired', 'failed', 'succeeded') and h.status = 'open'`;
  return row ?? null;
}

/** Cancel a job that has not finished; returns it with the status it had before. */
export async function cancelJob(
  db: Db,
  id: string,
  at: Date,
): Promise<{ job: JobRow; was: JobStatus } | null> {
  const [row] = await db<(JobRow & { was: JobStatus })[]>`
    update jobs j set status = 'cancelled', completed_at = ${at},
      -- During its node call the bill is not known yet: its worker records it (recordEndedJobBill).
      cost_ngonka = case when old.was = 'running' then null else 0 end
    from (select id, status as was from jobs where id = ${id} for update) old
    where j.id = old.id and ${statusIn(db, 'j.status', UNFINISHED)}
    returning j.*, old.was`;
  if (!row) return null;
  const { was, ...job } = row;
  return { job, was };
}

/**
 * Statuses few jobs end in, each list of which has an index of its own (migration 035). Said in the
 * query as its literal predicate too, so that a cached generic plan (the status a parameter) can
 * still use it.
 */
const RARE_STATUSES = new Set<JobStatus>(['failed', 'cancelled', 'expired']);

export async function listJobs(
  db: Db,
  f: {
    accountId: string;
    managementKeyId?: string;
    childKeyId?: string;
    status?: JobStatus;
    /** Only jobs after this one of the account in the list's order; none when it is not the account's. */
    afterId?: string;
    before?: Date;
    limit: number;
  },
): Promise<JobRow[]> {
  // The cursor row is compared in Postgres, not sent back as a timestamp: created_at has
  // microseconds a JS Date would round away.
  const rows = await db<JobRow[]>`
    select * from jobs
    where account_id = ${f.accountId} and batch_id is null
      ${f.managementKeyId ? db`and management_key_id = ${f.managementKeyId}` : db``}
      ${f.childKeyId ? db`and child_key_id = ${f.childKeyId}` : db``}
      ${f.status ? db`and status = ${f.status}` : db``}
      ${f.status && RARE_STATUSES.has(f.status) ? db`and status in ('failed', 'cancelled', 'expired')` : db``}
      ${f.before ? db`and created_at < ${f.before}` : db``}
      ${f.afterId ? db`and (created_at, id) < (select created_at, id from jobs where id = ${f.afterId} and account_id = ${f.accountId})` : db``}
    order by created_at desc, id desc
    limit ${f.limit}`;
  return withEndedBills(db, rows);
}
