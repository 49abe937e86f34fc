import type { Db } from '../client.js';
import { HOLD_COLUMNS, holdRows, type NewHold } from './holds.js';
import type { JobRow, JobStatus } from './jobs.js';
import { statusIn } from './status-by-id.js';

/** A batch line is a `jobs` row with a batch_id; these queries are the batch's view of them. */
export interface NewBatchLine {
  id: string;
  customId: string;
  lineNo: number;
  model: string;
  request: Record<string, unknown>;
}

/** All lines of a new batch in one statement, `pending` until dispatched (no hold yet). */
export async function insertBatchLines(
  db: Db,
  batch: { id: string; accountId: string; managementKeyId: string; childKeyId: string; createdAt: Date },
  lines: NewBatchLine[],
): Promise<void> {
  await db`
    insert into jobs (id, account_id, management_key_id, child_key_id, batch_id, custom_id, line_no, status,
                      model, request, created_at)
    select v.id, ${batch.accountId}, ${batch.managementKeyId}, ${batch.childKeyId}, ${batch.id}, v.custom_id,
           v.line_no, 'pending', v.model, v.request::jsonb, ${batch.createdAt}
    from unnest(${lines.map((l) => l.id)}::text[], ${lines.map((l) => l.customId)}::text[],
                ${lines.map((l) => l.lineNo)}::int[], ${lines.map((l) => l.model)}::text[],
                ${lines.map((l) => JSON.stringify(l.request))}::text[]) as v(id, custom_id, line_no, model, request)`;
}

/**
 * What request_counts shows: every line, those that succeeded and those that failed; and what the
 * lines used and were charged so far (the batch's `usage` and `cost_ngonka`).
 */
export interface LineCounts {
  total: number;
  succeeded: number;
  failed: number;
  prompt_tokens: bigint;
  completion_tokens: bigint;
  cost_ngonka: bigint;
}

const NO_LINES: LineCounts = {
  total: 0,
  succeeded: 0,
  failed: 0,
  prompt_tokens: 0n,
  completion_tokens: 0n,
  cost_ngonka: 0n,
};

export async function countLines(db: Db, batchIds: string[]): Promise<Map<string, LineCounts>> {
  if (batchIds.length === 0) return new Map();
  const rows = await db<(LineCounts & { batch_id: string })[]>`
    select batch_id, count(*)::int as total,
           count(*) filter (where status = 'succeeded')::int as succeeded,
           count(*) filter (where status = 'failed')::int as failed,
           coalesce(sum((usage ->> 'prompt_tokens')::int8), 0)::int8 as prompt_tokens,
           coalesce(sum((usage ->> 'completion_tokens')::int8), 0)::int8 as completion_tokens,
           coalesce(sum(cost_ngonka), 0)::int8 as cost_ngonka
    from jobs where batch_id = any(${batchIds}::text[]) group by batch_id`;
  const out = new Map(batchIds.map((id) => [id, NO_LINES]));
  for (const { batch_id, ...c } of rows) out.set(batch_id, c);
  return out;
}

/**
 * What the dispatcher needs on every run, read from the few lines in flight and the first pending
 * one only, so it stays cheap however large the batch (it runs once per finished line).
 */
export async function lineProgress(db: Db, batchId: string): Promise<{ live: number; pending: boolean }> {
  const [row] = await db<{ live: number; pending: boolean }[]>`
    select (select count(*) from jobs where batch_id = ${batchId} and status in ('queued', 'running'))::int as live,
           exists (select 1 from jobs where batch_id = ${batchId} and status = 'pending') as pending`;
  return row!;
}

/**
 * Whether lines of the batch that ended still hold money: their settlement has not released the
 * hold yet. Read through the account's open holds (few), not the batch's lines (up to 50,000).
 */
export async function batchHoldsSettling(db: Db, accountId: string, batchId: string): Promise<boolean> {
  const [row] = await db<{ settling: boolean }[]>`
    select exists (
      select 1 from holds h join jobs j on j.hold_id = h.id
      where h.account_id = ${accountId} and h.status = 'open' and j.batch_id = ${batchId}
    ) as settling`;
  return row!.settling;
}

export type PendingLine = Pick<JobRow, 'id' | 'line_no' | 'model' | 'request'>;

export async function nextPendingLines(
  db: Db,
  batchId: string,
  afterLineNo: number,
  limit: number,
): Promise<PendingLine[]> {
  return db<PendingLine[]>`
    select id, line_no, model, request from jobs
    where batch_id = ${batchId} and status = 'pending' and line_no > ${afterLineNo}
    order by line_no limit ${limit}`;
}

/**
 * An admitted line: queued with its hold and the node request the hold was sized for. False when
 * the line stopped being pending meanwhile (then the admission is rolled back).
 */
export interface AdmittedLine {
  hold: NewHold;
  /** The line's job id. */
  id: string;
  /** What the node will be sent, cap included: the hold was sized for exactly this. */
  request: Record<string, unknown>;
}

/**
 * Admitted batch lines, many in one statement: each line still pending becomes queued with its
 * request and hold, and only those lines' holds are written. Returns, per line in order, whether
 * it was (false: it stopped being pending meanwhile, cancelled or ended, and has no hold).
 */
export async function queueLinesWithHolds(db: Db, lines: readonly AdmittedLine[]): Promise<boolean[]> {
  if (lines.length === 0) return [];
  const col = <T>(f: (l: AdmittedLine) => T) => lines.map(f);
  const queued = await db<{ id: string }[]>`
    with queued as (
      update jobs j set status = 'queued', hold_id = v.hold_id, request = v.request::jsonb
      from unnest(${col((l) => l.id)}::text[], ${col((l) => l.hold.id)}::text[],
                  ${col((l) => JSON.stringify(l.request))}::text[]) as v(id, hold_id, request)
      where j.id = v.id and ${statusIn(db, 'j.status', ['pending'])}
      returning j.id, j.hold_id
    ), held as (
      insert into holds (${db.unsafe(HOLD_COLUMNS)})
      select h.* from ${holdRows(
        db,
        col((l) => l.hold),
      )} where h.id in (select hold_id from queued)
    )
    select id from queued`;
  const done = new Set(queued.map((r) => r.id));
  return lines.map((l) => done.has(l.id));
}

/** Fail every line not yet dispatched with one error (the batch's key was refused). */
export async function failPendingLines(
  db: Db,
  batchId: string,
  error: Record<string, unknown>,
  at: Date,
): Promise<number> {
  const rows = await db`
    update jobs set status = 'failed', error = ${db.json(error as never)}, completed_at = ${at}, cost_ngonka = 0
    where batch_id = ${batchId} and status = 'pending'
    returning id`;
  return rows.length;
}

/**
 * End every line that has not started: pending ones had no hold; queued ones return theirs for the
 * caller to void. Running lines, and the queued ones named in `inFlight` (their node calls may be
 * under way), are left to finish.
 */
export async function endWaitingLines(
  db: Db,
  batchId: string,
  status: Extract<JobStatus, 'expired' | 'cancelled'>,
  error: Record<string, unknown>,
  at: Date,
  inFlight: readonly string[],
): Promise<{ id: string; hold_id: string | null }[]> {
  return db<{ id: string; hold_id: string | null }[]>`
    update jobs set status = ${status}, error = ${db.json(error as never)}, completed_at = ${at}, cost_ngonka = 0
    where batch_id = ${batchId} and status in ('pending', 'queued') and not (id = any(${inFlight}::text[]))
    returning id, hold_id`;
}

export type ResultLine = Pick<JobRow, 'id' | 'custom_id' | 'line_no' | 'status' | 'result' | 'error'>;

/**
 * The lines after `afterLineNo` with their outcome, in input order, at most `limit`: what the
 * output and error files are made from, a page at a time.
 */
export async function resultLinesAfter(
  db: Db,
  batchId: string,
  afterLineNo: number,
  limit: number,
): Promise<ResultLine[]> {
  return db<ResultLine[]>`
    select id, custom_id, line_no, status, result, error from jobs
    where batch_id = ${batchId} and line_no > ${afterLineNo} order by line_no limit ${limit}`;
}
