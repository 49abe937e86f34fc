import type { Db } from '../client.js';
import { eventHeard } from './event-outbox.js';

/** OpenAI's batch statuses, in their lifecycle order (the route's filter and this type share them). */
export const BATCH_STATUSES = [
  'validating',
  'in_progress',
  'finalizing',
  'completed',
  'failed',
  'expired',
  'cancelling',
  'cancelled',
] as const;

export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** The statuses a batch ends in; each has its own `<status>_at` column. */
export type FinalBatchStatus = 'completed' | 'failed' | 'expired' | 'cancelled';

export interface BatchRow {
  id: string;
  account_id: string;
  management_key_id: string;
  child_key_id: string;
  input_file_id: string;
  endpoint: string;
  completion_window: string;
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: Record<string, unknown> | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  in_progress_at: Date | null;
  expires_at: Date;
  finalizing_at: Date | null;
  completed_at: Date | null;
  failed_at: Date | null;
  expired_at: Date | null;
  cancelling_at: Date | null;
  cancelled_at: Date | null;
  /** OpenAI's `output_expires_after`: its output and error files expire this long after they are written. */
  output_expires_after_seconds: number | null;
}

export interface NewBatch {
  id: string;
  accountId: string;
  managementKeyId: string;
  childKeyId: string;
  inputFileId: string;
  endpoint: string;
  completionWindow: string;
  total: number;
  metadata: Record<string, unknown>;
  createdAt: Date;
  expiresAt: Date;
  outputExpiresAfterSeconds?: number | null;
}

/** A batch is validated before it is stored, so it starts `in_progress`. */
export async function insertBatch(db: Db, b: NewBatch): Promise<void> {
  await db`
    insert into batches (id, account_id, management_key_id, child_key_id, input_file_id, endpoint,
                         completion_window, status, total, metadata, created_at, in_progress_at, expires_at,
                         output_expires_after_seconds)
    values (${b.id}, ${b.accountId}, ${b.managementKeyId}, ${b.childKeyId}, ${b.inputFileId}, ${b.endpoint},
            ${b.completionWindow}, 'in_progress', ${b.total}, ${db.json(b.metadata as never)}, ${b.createdAt},
            ${b.createdAt}, ${b.expiresAt}, ${b.outputExpiresAfterSeconds ?? null})`;
}

export async function findBatch(db: Db, id: string): Promise<BatchRow | null> {
  const [row] = await db<BatchRow[]>`select * from batches where id = ${id}`;
  return row ?? null;
}

/** How many batches an account has running (dispatching lines): its rank in the batch lane. */
export async function countRunningBatches(db: Db, accountId: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    select count(*)::int as n from batches where account_id = ${accountId} and status = 'in_progress'`;
  return row!.n;
}

/**
 * Lock a batch for a state change. Every change of a batch's state (dispatch, cancel, expiry,
 * finalization) holds this lock, so they never interleave. `skipLocked`: null when another holder
 * has it (the dispatcher then retries later instead of queueing behind it).
 */
export async function lockBatch(db: Db, id: string, opts: { skipLocked: boolean }): Promise<BatchRow | null> {
  // NO KEY UPDATE: inserting lines (a foreign key to the batch) never waits for this lock.
  const [row] = opts.skipLocked
    ? await db<BatchRow[]>`select * from batches where id = ${id} for no key update skip locked`
    : await db<BatchRow[]>`select * from batches where id = ${id} for no key update`;
  return row ?? null;
}

export async function markBatchCancelling(db: Db, id: string, at: Date): Promise<void> {
  await db`update batches set status = 'cancelling', cancelling_at = ${at} where id = ${id}`;
}

export async function markBatchFinalizing(db: Db, id: string, at: Date): Promise<void> {
  await db`update batches set status = 'finalizing', finalizing_at = ${at} where id = ${id}`;
}

/** The completion window closes now if it had not yet (an early expiry records when it happened). */
export async function closeBatchWindow(db: Db, id: string, at: Date): Promise<void> {
  await db`update batches set expires_at = least(expires_at, ${at}) where id = ${id}`;
}

export interface BatchOutcome {
  status: FinalBatchStatus;
  at: Date;
  outputFileId: string | null;
  errorFileId: string | null;
  completed: number;
  failed: number;
  errors: Record<string, unknown> | null;
}

/** End a batch, recording its batch.<status> event with the end (event_outbox) if anyone hears it. */
export async function closeBatch(db: Db, id: string, o: BatchOutcome): Promise<BatchRow> {
  const [row] = await db<BatchRow[]>`
    with closed as (
      update batches set status = ${o.status}, ${db(`${o.status}_at`)} = ${o.at},
        output_file_id = ${o.outputFileId}, error_file_id = ${o.errorFileId},
        completed = ${o.completed}, failed = ${o.failed}, errors = ${o.errors ? db.json(o.errors as never) : null}
      where id = ${id}
      returning *
    ), events as (
      insert into event_outbox (subject_id, created_at) select id, ${o.at} from closed c
      where ${eventHeard(db, 'c', `batch.${o.status}`, { ownUrl: false })}
      on conflict do nothing
    )
    select * from closed`;
  return row!;
}

export async function listBatches(
  db: Db,
  f: {
    accountId: string;
    managementKeyId?: string;
    childKeyId?: string;
    status?: BatchStatus;
    /**
     * Only batches after this one of the account in the list's order (OpenAI's `after` cursor);
     * none when it is not the account's, so a cursor tells nothing of another account's batches.
     */
    afterId?: string;
    before?: Date;
    limit: number;
  },
): Promise<BatchRow[]> {
  // The cursor row is compared in Postgres, not sent back as a timestamp: created_at has
  // microseconds a JS Date would round away.
  return db<BatchRow[]>`
    select * from batches
    where account_id = ${f.accountId}
      ${f.managementKeyId ? db`and management_key_id = ${f.managementKeyId}` : db``}
      ${f.childKeyId ? db`and child_key_id = ${f.childKeyId}` : db``}
      ${f.status ? db`and status = ${f.status}` : db``}
      ${f.before ? db`and created_at < ${f.before}` : db``}
      ${f.afterId ? db`and (created_at, id) < (select created_at, id from batches where id = ${f.afterId} and account_id = ${f.accountId})` : db``}
    order by created_at desc, id desc
    limit ${f.limit}`;
}

/** Batches whose completion window has closed while they still run (for a scheduled sweep). */
export async function overdueBatchIds(db: Db, at: Date, limit: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select id from batches where status in ('validating', 'in_progress', 'cancelling') and expires_at <= ${at}
    order by expires_at limit ${limit}`;
  return rows.map((r) => r.id);
}
