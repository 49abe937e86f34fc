import type { Db } from '../client.js';
import type { JobRow } from './jobs.js';

/**
 * The inference worker's writes, each for many jobs at once: the worker groups the attempts that
 * start and finish together (GroupCommit), so a busy worker pays one round trip and one commit
 * per group instead of per job.
 */

/** A job as an attempt starts: with the terms of its hold (null without one). */
export interface StartedJobRow extends JobRow {
  hold_status: 'open' | 'posted' | 'voided' | null;
  hold_amount: bigint | null;
  hold_price_ngonka_per_token: bigint | null;
  hold_markup_bps: number | null;
}

/**
 * Queued jobs start an attempt, many in one statement, each returned with its hold's terms (one
 * round trip where an attempt used to read the hold apart). A job missing from the result is no
 * longer runnable (cancelled, finished).
 */
export async function startJobAttempts(db: Db, ids: string[], at: Date): Promise<StartedJobRow[]> {
  if (ids.length === 0) return [];
  return db<StartedJobRow[]>`
    with started as (
      update jobs j set status = 'running', attempts = j.attempts + 1, started_at = coalesce(j.started_at, ${at})
      from unnest(${ids}::text[]) as v(id)
      where j.id = v.id and j.status in ('queued', 'running')
      returning j.*
    )
    select s.*, h.status as hold_status, h.amount as hold_amount,
           h.price_ngonka_per_token as hold_price_ngonka_per_token, h.markup_bps as hold_markup_bps
    from started s left join holds h on h.id = s.hold_id`;
}

export interface JobCompletion {
  id: string;
  result: Record<string, unknown>;
  usage: NonNullable<JobRow['usage']>;
  cost: bigint;
  at: Date;
}

/**
 * Record nodes' answers, many in one statement (one durable commit). Only a running job finishes;
 * a cancelled one keeps its status. Returns the ids that finished.
 */
export async function completeJobs(db: Db, done: JobCompletion[]): Promise<string[]> {
  if (done.length === 0) return [];
  const rows = await db<{ id: string }[]>`
    update jobs j set status = 'succeeded', result = v.result::jsonb, usage = v.usage::jsonb,
      cost_ngonka = v.cost, completed_at = v.at, error = null
    from unnest(${done.map((d) => d.id)}::text[], ${done.map((d) => JSON.stringify(d.result))}::text[],
                ${done.map((d) => JSON.stringify(d.usage))}::text[], ${done.map((d) => d.cost.toString())}::bigint[],
                ${done.map((d) => d.at.toISOString())}::timestamptz[]) as v(id, result, usage, cost, at)
    where j.id = v.id and j.status = 'running'
    returning j.id`;
  return rows.map((r) => r.id);
}
