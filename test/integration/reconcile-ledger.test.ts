import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { dayKey } from '../../shared/periods.js';
import { formatReport, runReconcile } from '../../shared/reconcile/index.js';
import { rollover } from '../../shared/scheduler/tasks/rollover.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { admitJob, hold } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv({ clock, env: { HOLD_GRACE_SECONDS: '60' } });
});
afterAll(async () => {
  await env?.close();
});

const reconcile = () => runReconcile(env.ctx, { inflightMs: 0 });
const find = async (check: string, subject: string) =>
  (await reconcile()).drift.find((d) => d.check === check && d.subject.includes(subject));

describe('reconcile: the book of record', () => {
  it('is clean on a consistent ledger', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const id = await hold(env.ctx, f.key, 100n);
    await settleHolds(env.ctx, [{ holdId: id, outcome: 'post', promptTokens: 40, completionTokens: 0 }]);
    expect((await reconcile()).drift).toEqual([]);
  });

  it('names a ledger balance that differs from its postings', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    await env.ctx.sql`update ledger_accounts set balance = balance + 1 where id = ${f.accountId}`;
    expect(await find('ledger_balances', f.accountId)).toMatchObject({
      subject: `ledger account ${f.accountId}`,
      expected: '1000',
      actual: '1001',
    });
    // Redis was loaded from the (corrupt) balance row, so it agrees with it, not with the postings.
    await env.ctx.sql`update ledger_accounts set balance = balance - 1 where id = ${f.accountId}`;
  });

  it('does not copy a wrong ledger balance into Redis on --fix, and says so', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const held = await hold(env.ctx, f.key, 100n); // loads the balance into Redis: 900 available
    const balanceKey = env.ctx.keys.balance(f.accountId);
    expect(await env.ctx.redis.get(balanceKey)).toBe('900');
    await env.ctx.sql`update ledger_accounts set balance = balance + 1000 where id = ${f.accountId}`;
    try {
      const r = await runReconcile(env.ctx, { inflightMs: 0, fix: true });
      expect(r.drift).toContainEqual(expect.objectContaining({ check: 'ledger_balances' }));
      expect(r.withheld).toContain(f.accountId);
      expect(await env.ctx.redis.get(balanceKey)).toBe('900');
      expect(formatReport(r, { fixed: true })).toMatch(
        /not repaired in Redis, because Postgres's own figures/,
      );
    } finally {
      await env.ctx.sql`update ledger_accounts set balance = balance - 1000 where id = ${f.accountId}`;
      await settleHolds(env.ctx, [{ holdId: held, outcome: 'void' }]);
    }
  });

  it('names daily usage that differs from the key’s posted holds, and --fix leaves its Redis counters', async () => {
    clock.set('2026-11-26T11:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const id = await hold(env.ctx, f.key, 100n);
    await settleHolds(env.ctx, [{ holdId: id, outcome: 'post', promptTokens: 40, completionTokens: 0 }]);
    const counter = env.ctx.keys.day(f.accountId, f.key.id, dayKey(clock.now()));
    expect(await env.ctx.redis.get(counter)).toBe('40');
    await env.ctx
      .sql`update key_usage_daily set cost_ngonka = cost_ngonka - 30 where child_key_id = ${f.key.id}`;
    try {
      expect(await find('usage_vs_holds', f.key.id)).toMatchObject({
        subject: `child key ${f.key.id} on 2026-11-26`,
        expected: '40 nGNK for 1 requests',
        actual: '10 nGNK for 1 requests',
      });
      const r = await runReconcile(env.ctx, { inflightMs: 0, fix: true });
      expect(r.withheld).toContain(f.accountId);
      expect(await env.ctx.redis.get(counter)).toBe('40'); // not loosened to 10
    } finally {
      await env.ctx
        .sql`update key_usage_daily set cost_ngonka = cost_ngonka + 30 where child_key_id = ${f.key.id}`;
    }
    expect((await reconcile()).drift.filter((d) => d.check === 'usage_vs_holds')).toEqual([]);
  });

  it('names holds that no longer match live work, only after the grace', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const sync = await hold(env.ctx, f.key, 100n, { ttlMs: 15 * 60_000 });
    const orphaned = await admitJob(env.ctx, f, 200n);
    await settleHolds(env.ctx, [{ holdId: orphaned.holdId, outcome: 'void' }]); // job left queued
    const finished = await admitJob(env.ctx, f, 300n);
    await env.ctx
      .sql`update jobs set status = 'failed', completed_at = ${clock.now()} where id = ${finished.jobId}`;

    clock.set('2026-11-26T10:00:30.000Z'); // settlement may still be on its way
    const early = (await reconcile()).drift.filter((d) => d.check === 'holds_vs_jobs');
    expect(early).toEqual([]);

    clock.set('2026-11-26T10:16:01.000Z');
    expect(await find('holds_vs_jobs', sync)).toMatchObject({
      message: expect.stringMatching(/past its deadline/),
    });
    expect(await find('holds_vs_jobs', orphaned.jobId)).toMatchObject({
      message: expect.stringMatching(/job whose hold is not open/),
    });
    expect(await find('holds_vs_jobs', finished.holdId)).toMatchObject({
      message: expect.stringMatching(/job that ended/),
    });
  });

  it('names a charge that differs from the holds it billed', async () => {
    clock.set('2026-11-26T12:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const ids = [await hold(env.ctx, f.key, 100n), await hold(env.ctx, f.key, 100n)];
    await settleHolds(
      env.ctx,
      ids.map((holdId) => ({ holdId, outcome: 'post' as const, promptTokens: 30, completionTokens: 0 })),
    );
    const [h] = await env.ctx.sql<
      { charge_ref: string }[]
    >`select charge_ref from holds where id = ${ids[0]!}`;
    expect((await reconcile()).drift.filter((d) => d.check === 'charges_vs_holds')).toEqual([]);
    // A request posted as billed by that charge, which never booked it.
    await env.ctx.sql`
      insert into holds (id, request_id, account_id, child_key_id, amount, period_day, model,
                         price_ngonka_per_token, markup_bps, status, posted_amount, deadline, charge_ref)
      values ('hold_rogue', 'req_rogue', ${f.accountId}, ${f.key.id}, 100, '2026-11-26', 'm', 1, 0, 'posted', 7,
              ${clock.now()}, ${h!.charge_ref})`;
    expect(await find('charges_vs_holds', h!.charge_ref)).toMatchObject({
      expected: '67 nGNK for 3 requests',
      actual: '60 nGNK for 2 requests',
    });
    clock.set('2026-11-26T13:00:01.000Z'); // checked for an hour after it was booked
    expect(await find('charges_vs_holds', h!.charge_ref)).toBeUndefined();
  });

  it('names a closed period whose daily usage changed after it was closed', async () => {
    clock.set('2026-11-20T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const id = await hold(env.ctx, f.key, 100n);
    await settleHolds(env.ctx, [{ holdId: id, outcome: 'post', promptTokens: 50, completionTokens: 0 }]);
    clock.set('2026-11-21T01:00:00.000Z');
    await rollover(env.ctx);
    await env.ctx.sql`update key_usage_daily set cost_ngonka = cost_ngonka + 5
      where child_key_id = ${f.key.id} and day = '2026-11-20'`;
    expect(await find('closed_periods', 'day 2026-11-20')).toMatchObject({ actual: '50', expected: '55' });
  });
});
