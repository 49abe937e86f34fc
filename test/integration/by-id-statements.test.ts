import type { ReservedSql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../shared/db/client.js';
import { lockHoldsToSettle, resolveHolds } from '../../shared/db/queries/holds.js';
import { completeJobs, markJobsRunning, readJobsToRun } from '../../shared/db/queries/job-attempts.js';
import { cancelJob, failJob } from '../../shared/db/queries/jobs.js';
import { stillLiveJobIds } from '../../shared/db/queries/reconcile-jobs.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture } from '../helpers/fixtures.js';

/**
 * The worker's and settlement's statements find their jobs and holds by id. With a backlog that
 * arrived after the last analyze (a batch dispatched, a burst of jobs), the statistics still say
 * there are hardly any live jobs or open holds, and a statement that let the planner use those
 * partial indexes read every live row for each handful of ids. These count the index entries each
 * statement reads: the live and open indexes must not be read at all.
 */
const BACKLOG = 3000;
let env: TestEnv;
let conn: ReservedSql;
let ids: { jobs: string[]; holds: string[] };

beforeAll(async () => {
  env = await createTestEnv();
  const f = await createKeyFixture(env.ctx, { balance: 1_000_000_000n });
  const sql = env.ctx.sql;
  // Statistics taken while nothing is live, then a backlog no analyze has seen.
  await sql`alter table jobs set (autovacuum_enabled = false)`;
  await sql`alter table holds set (autovacuum_enabled = false)`;
  await sql`analyze jobs`;
  await sql`analyze holds`;
  await sql`
    insert into holds (id, request_id, account_id, child_key_id, amount, period_day, model,
                       price_ngonka_per_token, markup_bps, deadline)
    select 'hold_b' || g, 'req_b' || g, ${f.accountId}, ${f.key.id}, 100, current_date, 'm', 1, 0,
           now() + interval '1 hour'
    from generate_series(1, ${BACKLOG}) g`;
  await sql`
    insert into jobs (id, account_id, management_key_id, child_key_id, hold_id, status, model, request)
    select 'job_b' || g, ${f.accountId}, ${f.mkId}, ${f.key.id}, 'hold_b' || g, 'queued', 'm', '{}'
    from generate_series(1, ${BACKLOG}) g`;
  ids = {
    jobs: Array.from({ length: 20 }, (_, i) => `job_b${i + 1}`),
    holds: Array.from({ length: 20 }, (_, i) => `hold_b${i + 1}`),
  };
  conn = await sql.reserve();
});
afterAll(async () => {
  conn?.release();
  await env?.close();
});

/** Index entries read from the live-jobs and open-holds indexes while `run` ran on `conn`. */
async function partialIndexReads(run: (db: Db) => Promise<unknown>): Promise<number> {
  const read = async () => {
    await conn`select pg_stat_force_next_flush()`;
    await conn`select pg_stat_clear_snapshot()`;
    const [row] = await conn<{ n: string }[]>`
      select coalesce(sum(idx_tup_read), 0)::text as n from pg_stat_user_indexes
      where indexrelname in ('jobs_live_idx', 'holds_open_account_idx', 'holds_open_key_idx', 'holds_deadline_idx')`;
    return Number(row!.n);
  };
  const before = await read();
  await run(conn as unknown as Db);
  return (await read()) - before;
}

describe('statements by id, with a live backlog the statistics have not seen', () => {
  it('reads and marks jobs through the primary key', async () => {
    expect(await partialIndexReads((db) => readJobsToRun(db, ids.jobs))).toBe(0);
    const at = new Date();
    const marks = ids.jobs.slice(0, 5).map((id) => ({ id, attempt: 1, startedAt: at }));
    expect(await partialIndexReads((db) => markJobsRunning(db, marks))).toBe(0);
    expect(await partialIndexReads((db) => stillLiveJobIds(db, ids.jobs))).toBe(0);
  });

  it('completes, fails and cancels jobs through the primary key', async () => {
    const at = new Date();
    const done = ids.jobs.slice(0, 10).map((id) => ({
      id,
      attempt: 1,
      startedAt: at,
      result: { ok: true },
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      cost: 2n,
      at,
    }));
    let finished: string[] = [];
    expect(
      await partialIndexReads(async (db) => {
        finished = await completeJobs(db, done);
      }),
    ).toBe(0);
    expect(finished.sort()).toEqual(ids.jobs.slice(0, 10).sort());
    const error = { type: 'upstream_error', message: 'x' };
    expect(await partialIndexReads((db) => failJob(db, ids.jobs[10]!, { status: 'failed', error, at }))).toBe(
      0,
    );
    expect(await partialIndexReads((db) => cancelJob(db, ids.jobs[11]!, at))).toBe(0);
    // Only live jobs change: a finished one is left as it is.
    expect(await completeJobs(env.ctx.sql, done.slice(0, 1))).toEqual([]);
  });

  it('locks and resolves open holds through the primary key', async () => {
    let locked: string[] = [];
    expect(
      await partialIndexReads(async (db) => {
        // Settlement's order: lock the open holds, then resolve them, in one transaction.
        await conn.unsafe('begin');
        locked = (await lockHoldsToSettle(db, ids.holds)).map((h) => h.id);
        const voided = locked.map((id) => ({
          id,
          status: 'voided' as const,
          postedAmount: 0n,
          promptTokens: null,
          completionTokens: null,
          chargeRef: null,
        }));
        await resolveHolds(db, voided, new Date());
        await conn.unsafe('commit');
      }),
    ).toBe(0);
    expect(locked).toEqual([...ids.holds].sort());
    const [row] = await env.ctx.sql<{ n: number }[]>`
      select count(*)::int as n from holds where id = any(${ids.holds}) and status = 'voided'`;
    expect(row!.n).toBe(ids.holds.length);
  });
});
