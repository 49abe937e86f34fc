import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import {
  claimPendingSchedulerEvents,
  insertSchedulerEvents,
} from '../../shared/db/queries/scheduler-events.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { limitAlerts, thresholdEvents } from '../../shared/scheduler/tasks/limit-alerts.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { limitUsageRow } from '../helpers/limit-usage-row.js';
import { deliveriesOf, hold, schedulerEnv, subscribeAll } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
const w = schedulerEnv(clock);

/** A key (on an account of 100,000 nGNK unless said) whose account subscribes to every event. */
async function watchedKey(opts: Parameters<typeof createKeyFixture>[1]): Promise<KeyFixture> {
  const f = await createKeyFixture(w.env.ctx, { balance: 100_000n, ...opts });
  await subscribeAll(w.env.ctx, f.accountId);
  return f;
}

async function spend(f: KeyFixture, cost: number): Promise<void> {
  const id = await hold(w.env.ctx, f.key, BigInt(cost));
  await settleHolds(w.env.ctx, [{ holdId: id, outcome: 'post', promptTokens: cost, completionTokens: 0 }]);
}

const usageRow = (f: KeyFixture) =>
  limitUsageRow({ id: f.key.id, account_id: f.accountId, management_key_id: f.key.management_key_id });

const alerts = async (f: KeyFixture) =>
  (await deliveriesOf(w.env.ctx, f.accountId, 'key.limit_threshold')).map((d) => {
    const { limit, threshold, spent_ngonka, limit_ngonka } = d.payload.data;
    return `${limit}:${threshold}:${spent_ngonka}/${limit_ngonka}`;
  });

describe('scheduler: limit alerts', () => {
  it('raises 80% and 100% of the daily and monthly limits once per period, reservations included', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await watchedKey({ limitDaily: 1000n, limitMonthly: 2500n });
    await spend(f, 700);
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toEqual([]);

    // An open reservation counts against the limit exactly like spend.
    await hold(w.env.ctx, f.key, 100n);
    clock.advance(60_000);
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toEqual(['daily:80:800/1000']);
    const [first] = await deliveriesOf(w.env.ctx, f.accountId, 'key.limit_threshold');
    expect(first!.payload.data).toMatchObject({
      key_id: f.key.id,
      settled_ngonka: '700',
      reserved_ngonka: '100',
      period: '2026-11-26',
      resets_at: '2026-11-27T00:00:00.000Z',
    });

    await spend(f, 200);
    clock.advance(60_000);
    await limitAlerts(w.env.ctx, w.queues);
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toEqual(['daily:80:800/1000', 'daily:100:1000/1000']);

    // The next day: the daily alerts may fire again; the month keeps counting.
    clock.set('2026-11-27T09:00:00.000Z');
    await spend(f, 1000);
    await limitAlerts(w.env.ctx, w.queues);
    // (One open reservation of yesterday's still counts in the month.)
    expect((await alerts(f)).slice(2).sort()).toEqual([
      'daily:100:1000/1000',
      'daily:80:1000/1000',
      'monthly:80:2000/2500',
    ]);
  });

  it('hands a key’s 80% to the emitter before its 100% raised in the same run', async () => {
    clock.set('2026-11-29T10:00:00.000Z');
    const f = await watchedKey({ limitDaily: 1000n });
    const rolledBack = new Error('rolled back');
    let claimed: unknown[] = [];
    await w.env.ctx.sql
      .begin(async (tx) => {
        const full = { ...usageRow(f), limit_daily_ngonka: 1000n, day_settled: 1000n };
        await insertSchedulerEvents(tx, thresholdEvents(full, clock.now()).reverse());
        claimed = (await claimPendingSchedulerEvents(tx, 100))
          .filter((e) => e.account_id === f.accountId)
          .map((e) => e.data.threshold);
        throw rolledBack; // the events are this test's only
      })
      .catch((err: unknown) => {
        if (err !== rolledBack) throw err;
      });
    expect(claimed).toEqual([80, 100]);
  });

  it('ignores keys without limits, zero limits and other accounts, and survives a lost watermark', async () => {
    clock.set('2026-11-28T10:00:00.000Z');
    const none = await watchedKey({ balance: 10_000n });
    const zero = await watchedKey({ balance: 10_000n, limitDaily: 0n });
    const monthly = await watchedKey({ balance: 10_000n, limitMonthly: 100n });
    await spend(none, 5000);
    await spend(monthly, 90);
    // A zero limit blocks a key on purpose: no "100% of 0" alert even when it looks active.
    await w.env.ctx.sql`update child_keys set last_used_at = ${clock.now()} where id = ${zero.key.id}`;
    await w.env.ctx.redis.del(`${w.env.config.REDIS_PREFIX}:sched:limit-alerts:since`);
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(none)).toEqual([]);
    expect(await alerts(zero)).toEqual([]);
    expect(await alerts(monthly)).toEqual(['monthly:80:90/100']);
  });

  it("raises the day's and month's alerts for a limit passed after the last run before midnight", async () => {
    clock.set('2026-12-31T23:59:30.000Z');
    const f = await watchedKey({ limitDaily: 1000n, limitMonthly: 1000n });
    await limitAlerts(w.env.ctx, w.queues); // the last run of Dec 31 finds nothing
    expect(await alerts(f)).toEqual([]);

    clock.set('2026-12-31T23:59:45.000Z');
    const id = await hold(w.env.ctx, f.key, 1000n);
    clock.set('2027-01-01T00:00:00.000Z'); // settled into Dec 31, where it was admitted
    await settleHolds(w.env.ctx, [{ holdId: id, outcome: 'post', promptTokens: 1000, completionTokens: 0 }]);

    // The first run of the new day and month looks back at the ones just closed, once.
    await limitAlerts(w.env.ctx, w.queues);
    clock.set('2027-01-01T00:00:30.000Z');
    await limitAlerts(w.env.ctx, w.queues);
    expect((await alerts(f)).sort()).toEqual([
      'daily:100:1000/1000',
      'daily:80:1000/1000',
      'monthly:100:1000/1000',
      'monthly:80:1000/1000',
    ]);
    const periods = (await deliveriesOf(w.env.ctx, f.accountId, 'key.limit_threshold')).map(
      (d) => `${d.payload.data.period} ${d.payload.data.resets_at}`,
    );
    expect([...new Set(periods)].sort()).toEqual([
      '2026-12 2027-01-01T00:00:00.000Z',
      '2026-12-31 2027-01-01T00:00:00.000Z',
    ]);
  });

  it('looks back at the day just closed on a new day inside a month, daily limit only', async () => {
    clock.set('2027-01-14T23:59:30.000Z');
    const f = await watchedKey({ limitDaily: 1000n, limitMonthly: 10_000n });
    await limitAlerts(w.env.ctx, w.queues);
    clock.set('2027-01-14T23:59:50.000Z');
    await spend(f, 900);
    clock.set('2027-01-15T00:00:00.000Z');
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toEqual(['daily:80:900/1000']);
  });
});
