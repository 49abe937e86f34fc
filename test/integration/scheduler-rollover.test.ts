import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { ManualClock } from '../../shared/clock.js';
import { toHoldTerms } from '../../shared/ledger/hold-terms.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { rollover } from '../../shared/scheduler/tasks/rollover.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { hold, outcome } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-12-31T23:00:00.000Z');
let env: TestEnv;

beforeEach(async () => {
  env = await createTestEnv({ clock });
});
afterEach(async () => {
  await env?.close();
});

/** Admit and settle a request charging exactly `cost` nGNK (price 1, no markup) at the clock's time. */
async function spend(f: KeyFixture, cost: number): Promise<void> {
  const id = await hold(env.ctx, f.key, BigInt(cost) + 100n);
  await settleHolds(env.ctx, [{ holdId: id, outcome: 'post', promptTokens: cost, completionTokens: 0 }]);
}

const periods = async (kind: 'day' | 'month') =>
  env.ctx.sql<{ period: string; status: string; requests: bigint; cost: bigint }[]>`
    select to_char(period, 'YYYY-MM-DD') as period, status, requests, cost_ngonka as cost
    from usage_periods where kind = ${kind} order by period`;

const monthly = async (keyId: string) =>
  env.ctx.sql<{ month: string; requests: bigint; cost: bigint }[]>`
    select to_char(month, 'YYYY-MM-DD') as month, requests, cost_ngonka as cost
    from key_usage_monthly where child_key_id = ${keyId} order by month`;

const counter = (f: KeyFixture, kind: 'd' | 'm', period: string) =>
  env.ctx.redis.get(
    kind === 'd'
      ? env.ctx.keys.day(f.accountId, f.key.id, period)
      : env.ctx.keys.month(f.accountId, f.key.id, period),
  );

describe('scheduler: UTC day and month rollover', () => {
  it('closes Dec 31 and December at the new year, waiting for a hold open across midnight', async () => {
    clock.set('2026-12-31T23:00:00.000Z');
    const f = await createKeyFixture(env.ctx, {
      balance: 1_000_000n,
      limitDaily: 1000n,
      limitMonthly: 5000n,
    });
    await spend(f, 200);
    clock.set('2026-12-31T23:59:30.000Z');
    const open = await hold(env.ctx, f.key, 100n); // still running at midnight

    clock.set('2027-01-01T00:20:00.000Z'); // inside the grace (24 minutes): nothing closes yet
    expect((await rollover(env.ctx)).days.closed).toEqual([]);

    clock.set('2027-01-01T00:30:00.000Z');
    const first = await rollover(env.ctx);
    expect(first.days).toEqual({ closed: [], closing: ['2026-12-31'] });
    expect(first.months).toEqual({ closed: [], closing: ['2026-12-01'] });
    expect(await counter(f, 'd', '20261231')).toBe('300'); // still needed: the hold releases into it

    // The new day and month start from zero: the whole daily limit is available.
    expect(await outcome(hold(env.ctx, f.key, 1000n))).toBe('ok');
    expect(await outcome(hold(env.ctx, f.key, 1n))).toBe('child_key_limit');

    // The hold admitted on Dec 31 settles after midnight: it still belongs to Dec 31.
    clock.set('2027-01-01T00:40:00.000Z');
    await settleHolds(env.ctx, [{ holdId: open, outcome: 'post', promptTokens: 50, completionTokens: 0 }]);
    const second = await rollover(env.ctx);
    expect(second.days.closed).toEqual(['2026-12-31']);
    expect(second.months.closed).toEqual(['2026-12-01']);
    expect(await periods('day')).toEqual([
      { period: '2026-12-31', status: 'closed', requests: 2n, cost: 250n },
    ]);
    expect(await periods('month')).toEqual([
      { period: '2026-12-01', status: 'closed', requests: 2n, cost: 250n },
    ]);
    expect(await monthly(f.key.id)).toEqual([{ month: '2026-12-01', requests: 2n, cost: 250n }]);

    // Closed periods' counters are pruned; the current ones stay.
    expect(second.pruned).toBe(2);
    expect(await counter(f, 'd', '20261231')).toBeNull();
    expect(await counter(f, 'm', '202612')).toBeNull();
    expect(await counter(f, 'd', '20270101')).toBe('1000');
    expect(await counter(f, 'm', '202701')).toBe('1000');

    // Running again changes nothing.
    const third = await rollover(env.ctx);
    expect(third).toEqual({
      days: { closed: [], closing: [] },
      months: { closed: [], closing: [] },
      pruned: 0,
    });
    expect(await periods('day')).toHaveLength(1);
  });

  it('handles Feb 28 → Feb 29 → Mar 1 in a leap year (2028)', async () => {
    clock.set('2028-02-28T12:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n, limitMonthly: 10_000n });
    await spend(f, 100);
    clock.set('2028-02-29T00:30:00.000Z');
    const a = await rollover(env.ctx);
    expect(a.days.closed).toEqual(['2028-02-28']);
    expect(a.months.closed).toEqual([]); // February is not over

    clock.set('2028-02-29T12:00:00.000Z');
    await spend(f, 200);
    expect(await counter(f, 'm', '202802')).toBe('300');
    clock.set('2028-03-01T00:30:00.000Z');
    const b = await rollover(env.ctx);
    expect(b.days.closed).toEqual(['2028-02-29']);
    expect(b.months.closed).toEqual(['2028-02-01']);
    expect((await periods('day')).map((p) => [p.period, p.cost])).toEqual([
      ['2028-02-28', 100n],
      ['2028-02-29', 200n],
    ]);
    expect(await monthly(f.key.id)).toEqual([{ month: '2028-02-01', requests: 2n, cost: 300n }]);
    expect(await counter(f, 'm', '202802')).toBeNull();
  });

  it('catches up after downtime: every day and month missed, in one run', async () => {
    clock.set('2027-01-30T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n });
    await spend(f, 10);
    clock.set('2027-02-02T10:00:00.000Z');
    await spend(f, 20);
    clock.set('2027-02-05T03:00:00.000Z'); // no scheduler ran since Jan 30
    const r = await rollover(env.ctx);
    expect(r.days.closed).toEqual([
      '2027-01-30',
      '2027-01-31',
      '2027-02-01',
      '2027-02-02',
      '2027-02-03',
      '2027-02-04',
    ]);
    expect(r.months.closed).toEqual(['2027-01-01']);
    expect(await monthly(f.key.id)).toEqual([{ month: '2027-01-01', requests: 1n, cost: 10n }]);
    expect((await periods('day')).find((p) => p.period === '2027-01-31')).toMatchObject({
      requests: 0n,
      cost: 0n,
    });
  });

  it('closes a month once when rollovers race (two schedulers), none of them failing', async () => {
    clock.set('2027-01-30T10:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n });
    await spend(f, 10);
    clock.set('2027-02-01T03:00:00.000Z');
    const runs = await Promise.allSettled([rollover(env.ctx), rollover(env.ctx), rollover(env.ctx)]);
    expect(runs.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(await monthly(f.key.id)).toEqual([{ month: '2027-01-01', requests: 1n, cost: 10n }]);
    expect(await periods('month')).toEqual([
      { period: '2027-01-01', status: 'closed', requests: 1n, cost: 10n },
    ]);
  });

  it('keeps Dec 31 open for a sync request admitted before midnight whose hold Postgres never recorded', async () => {
    clock.set('2026-12-31T23:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n, limitDaily: 5000n });
    await spend(f, 200);
    clock.set('2026-12-31T23:59:50.000Z');
    const { SYNC_STREAM_MAX_SECONDS: streamS, HOLD_GRACE_SECONDS: graceS } = env.ctx.config;
    // As sync chat admits: the hold's write in the background, and here it fails (Postgres away).
    const admission = await admit(env.ctx, {
      key: f.key,
      estimate: 1000n,
      model: 'm',
      pricePerToken: 1n,
      markupBps: 10000,
      holdTtlMs: (streamS + graceS) * 1000,
      background: true,
      write: () => Promise.reject(new Error('connection lost')),
    });
    await expect(admission.recorded).rejects.toThrow('connection lost');

    // The stream runs its longest and its settlement (which writes the hold) comes a grace later;
    // meanwhile the rollover runs every 5 minutes and must not close the day it settles into.
    const settlesAt = Date.parse('2026-12-31T23:59:50.000Z') + (streamS + graceS) * 1000;
    const tick = async () => {
      clock.advance(5 * 60_000);
      return rollover(env.ctx);
    };
    while (clock.now().getTime() + 5 * 60_000 < settlesAt) expect((await tick()).days.closed).toEqual([]);
    clock.set(new Date(settlesAt));
    await settleHolds(env.ctx, [
      {
        holdId: admission.hold.id,
        outcome: 'post',
        promptTokens: 600,
        completionTokens: 0,
        unrecorded: toHoldTerms(admission.hold),
      },
    ]);

    let closed: string[] = [];
    for (let i = 0; i < 12 && !closed.includes('2026-12-31'); i++) closed = (await tick()).days.closed;
    expect(closed).toEqual(['2026-12-31']);
    expect(await periods('day')).toEqual([
      { period: '2026-12-31', status: 'closed', requests: 2n, cost: 800n },
    ]);
    const { drift } = await runReconcile(env.ctx, { inflightMs: 0 });
    expect(drift.filter((d) => d.check === 'closed_periods')).toEqual([]);
  });
});
