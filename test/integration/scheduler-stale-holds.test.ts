import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { markJobsRunning } from '../../shared/db/queries/job-attempts.js';
import { failJob, findJob } from '../../shared/db/queries/jobs.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { processRegistry } from '../../shared/metrics/registry.js';
import type { Queues } from '../../shared/queues.js';
import { sweepStaleHolds } from '../../shared/scheduler/tasks/stale-holds.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture, ledgerDrift } from '../helpers/fixtures.js';
import { capturedLogger } from '../helpers/logs.js';
import {
  admitJob,
  deliveriesOf,
  hold,
  subscribeAll,
  succeededUnsettled,
  testQueues,
} from '../helpers/scheduler.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
let env: TestEnv;
let queues: Queues;

beforeAll(async () => {
  env = await createTestEnv({ clock, env: { HOLD_GRACE_SECONDS: '300' } });
  queues = testQueues(env.ctx);
});
afterAll(async () => {
  await queues?.close();
  await env?.close();
});

const job = (f: KeyFixture, estimate: bigint) => admitJob(env.ctx, f, estimate);

/** A worker ran it and recorded its answer (100 tokens, 100 nGNK); its settlement never came. */
const succeeded = (jobId: string) => succeededUnsettled(env.ctx, jobId);

const holdRow = async (id: string) =>
  (await env.ctx.sql`select status, posted_amount from holds where id = ${id}`)[0];
const available = (f: KeyFixture) => env.ctx.redis.get(env.ctx.keys.balance(f.accountId));

describe('scheduler: stale holds', () => {
  it('voids a sync hold past its deadline and gives the reservation back in Redis', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1000n, limitDaily: 500n });
    const stale = await hold(env.ctx, f.key, 300n, { ttlMs: 15 * 60_000 });
    clock.set('2026-11-26T10:10:00.000Z');
    const fresh = await hold(env.ctx, f.key, 100n, { ttlMs: 15 * 60_000 });
    expect(await available(f)).toBe('600');

    clock.set('2026-11-26T10:14:59.000Z');
    expect((await sweepStaleHolds(env.ctx, queues)).voided).toBe(0);
    clock.set('2026-11-26T10:15:00.000Z');
    expect(await sweepStaleHolds(env.ctx, queues)).toEqual({ voided: 1, posted: 0, jobsEnded: 0 });
    expect(await holdRow(stale)).toMatchObject({ status: 'voided' });
    expect(await holdRow(fresh)).toMatchObject({ status: 'open' });
    expect(await available(f)).toBe('900');
    expect(await env.ctx.redis.get(env.ctx.keys.day(f.accountId, f.key.id, '20261126'))).toBe('100');
  });

  it('says and counts usage that comes for a hold it voided: a request served and never billed', async () => {
    clock.set('2026-11-26T11:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const id = await hold(env.ctx, f.key, 300n, { ttlMs: 60_000 });
    const unbilled = async () =>
      (await processRegistry.getSingleMetric('gateway_served_unbilled_total')!.get()).values[0]?.value ?? 0;
    const before = await unbilled();
    // The scheduler's clock runs ahead: the request is still being answered, its hold looks stale.
    clock.set('2026-11-26T11:01:00.000Z');
    await sweepStaleHolds(env.ctx, queues); // (earlier tests' holds may be stale by now too)
    expect(await holdRow(id)).toMatchObject({ status: 'voided' });

    const { logger, lines } = capturedLogger('warn');
    const late = { holdId: id, outcome: 'post' as const, promptTokens: 10, completionTokens: 20 };
    expect(await settleHolds({ ...env.ctx, logger }, [late])).toEqual([
      { holdId: id, status: 'already', charged: 0n },
    ]);
    expect(await holdRow(id)).toMatchObject({ status: 'voided', posted_amount: 0n });
    expect(await unbilled()).toBe(before + 1);
    expect(lines).toEqual([
      expect.objectContaining({ holds: [id], msg: expect.stringMatching(/served and not billed/) }),
    ]);
    // A retried settlement of a hold it posted itself says nothing.
    const posted = await hold(env.ctx, f.key, 100n);
    const once = { holdId: posted, outcome: 'post' as const, promptTokens: 1, completionTokens: 1 };
    await settleHolds(env.ctx, [once]);
    await settleHolds({ ...env.ctx, logger }, [once]);
    expect(lines).toHaveLength(1);
    expect(await unbilled()).toBe(before + 1);
  });

  it('leaves a sync hold past its deadline to its settlement message while one waits for a retry', async () => {
    clock.set('2026-11-26T11:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const id = await hold(env.ctx, f.key, 300n, { ttlMs: 15 * 60_000 });
    // The request was served; its usage waits in a settlement message that failed and retries later.
    const usage = { holdId: id, outcome: 'post' as const, promptTokens: 40, completionTokens: 60 };
    await queues.add('settlement', { items: [usage], enqueuedAt: Date.now() }, { delay: 3_600_000 });

    clock.set('2026-11-26T11:20:00.000Z');
    await sweepStaleHolds(env.ctx, queues); // (an earlier test's hold may be stale by now)
    expect(await holdRow(id)).toMatchObject({ status: 'open' });
    // The message runs at last and books what was served.
    await settleHolds(env.ctx, [usage]);
    expect(await holdRow(id)).toMatchObject({ status: 'posted', posted_amount: 100n });
    await queues.get('settlement').obliterate({ force: true });
    expect(await sweepStaleHolds(env.ctx, queues)).toEqual({ voided: 0, posted: 0, jobsEnded: 0 });
  });

  it('reaches the holds behind a full page of holds it leaves to their settlement', async () => {
    clock.set('2026-11-26T12:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 100_000n });
    const waiting: string[] = [];
    for (let i = 0; i < 200; i++) waiting.push(await hold(env.ctx, f.key, 10n, { ttlMs: 15 * 60_000 }));
    const items = waiting.map((holdId) => ({
      holdId,
      outcome: 'post' as const,
      promptTokens: 1,
      completionTokens: 1,
    }));
    await queues.add('settlement', { items, enqueuedAt: Date.now() }, { delay: 3_600_000 });
    clock.set('2026-11-26T12:01:00.000Z');
    const { jobId, holdId } = await job(f, 100n); // its deadline comes after theirs

    clock.set('2026-11-26T18:30:00.000Z');
    await sweepStaleHolds(env.ctx, queues);
    expect(await holdRow(holdId)).toMatchObject({ status: 'voided' });
    expect(await findJob(env.ctx.sql, jobId)).toMatchObject({ status: 'expired' });
    expect(await holdRow(waiting[0]!)).toMatchObject({ status: 'open' });
    await queues.get('settlement').obliterate({ force: true });
  });

  it('expires a job still queued at its hold deadline (request_timeout, code stale_hold; job.failed) and voids its hold', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    await subscribeAll(env.ctx, f.accountId);
    const j = await job(f, 400n);
    clock.set('2026-11-26T16:00:00.000Z');
    // (The earlier test's fresh sync hold is past its deadline by now too.)
    expect(await sweepStaleHolds(env.ctx, queues)).toMatchObject({ posted: 0, jobsEnded: 1 });
    const row = await findJob(env.ctx.sql, j.jobId);
    expect(row).toMatchObject({ status: 'expired', error: { type: 'request_timeout', code: 'stale_hold' } });
    expect(await holdRow(j.holdId)).toMatchObject({ status: 'voided' });
    expect(await available(f)).toBe('1000');
    expect((await deliveriesOf(env.ctx, f.accountId, 'job.failed')).map((d) => d.payload.data.id)).toEqual([
      j.jobId,
    ]);
  });

  it('charges a succeeded job whose settlement was lost, voids a failed one, after the grace only', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const ok = await job(f, 300n);
    const bad = await job(f, 200n);
    // A worker ran it and recorded the answer; its settlement never came.
    await succeeded(ok.jobId);
    await failJob(env.ctx.sql, bad.jobId, { status: 'failed', error: { type: 'x' }, at: clock.now() });

    clock.set('2026-11-26T10:04:00.000Z'); // settlement may still be on its way
    expect(await sweepStaleHolds(env.ctx, queues)).toEqual({ voided: 0, posted: 0, jobsEnded: 0 });
    clock.set('2026-11-26T10:05:00.000Z');
    expect(await sweepStaleHolds(env.ctx, queues)).toEqual({ voided: 1, posted: 1, jobsEnded: 0 });
    expect(await holdRow(ok.holdId)).toMatchObject({ status: 'posted', posted_amount: 100n });
    expect(await holdRow(bad.holdId)).toMatchObject({ status: 'voided' });
    expect(await available(f)).toBe('900');
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
    // Nothing left to do: a second sweep is a no-op.
    expect(await sweepStaleHolds(env.ctx, queues)).toEqual({ voided: 0, posted: 0, jobsEnded: 0 });
  });

  it('settles the others when one stale hold cannot be settled', async () => {
    clock.set('2026-11-27T10:00:00.000Z');
    const a = await createKeyFixture(env.ctx, { balance: 1000n });
    const b = await createKeyFixture(env.ctx, { balance: 1000n });
    const stuck = await job(a, 300n);
    await succeeded(stuck.jobId);
    const sync = await hold(env.ctx, b.key, 200n, { ttlMs: 15 * 60_000 });
    // A's books broken by hand: its charge would take the balance below zero, which Postgres refuses.
    await env.ctx.sql`update ledger_accounts set balance = 0 where id = ${a.accountId}`;

    clock.set('2026-11-27T16:00:00.000Z');
    expect(await sweepStaleHolds(env.ctx, queues)).toMatchObject({ voided: 1, posted: 0 });
    expect(await holdRow(sync)).toMatchObject({ status: 'voided' });
    expect(await holdRow(stuck.holdId)).toMatchObject({ status: 'open' });
    await env.ctx.sql`update ledger_accounts set balance = 1000 where id = ${a.accountId}`;
    expect(await sweepStaleHolds(env.ctx, queues)).toMatchObject({ posted: 1 });
  });

  it('returns from a sweep where a whole group of holds cannot settle, instead of reading it again', async () => {
    clock.set('2026-11-28T10:00:00.000Z');
    const a = await createKeyFixture(env.ctx, { balance: 10_000n });
    for (let i = 0; i < 200; i++) await succeeded((await job(a, 10n)).jobId);
    await env.ctx.sql`update ledger_accounts set balance = 0 where id = ${a.accountId}`;
    clock.set('2026-11-28T16:00:00.000Z');
    const sweep = sweepStaleHolds(env.ctx, queues);
    const outcome = await Promise.race([
      sweep.then(() => 'returned'),
      new Promise((r) => setTimeout(() => r('still looping after 15 s'), 15_000)),
    ]);
    await env.ctx.sql`update ledger_accounts set balance = 10000 where id = ${a.accountId}`;
    await sweep;
    expect(outcome).toBe('returned');
    await sweepStaleHolds(env.ctx, queues); // the books mended, the holds settle
  }, 60_000);

  it('leaves running work with time left alone', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const j = await job(f, 100n);
    await markJobsRunning(env.ctx.sql, [{ id: j.jobId, attempt: 1, startedAt: clock.now() }]);
    clock.set('2026-11-26T15:59:59.000Z');
    await sweepStaleHolds(env.ctx, queues);
    expect(await holdRow(j.holdId)).toMatchObject({ status: 'open' });
    expect((await findJob(env.ctx.sql, j.jobId))?.status).toBe('running');
  });
});
