import { describe, expect, it } from 'vitest';
import { publishChildKeyState } from '../../shared/admission/key-state.js';
import { ManualClock } from '../../shared/clock.js';
import { findChildKey, updateChildKey } from '../../shared/db/queries/child-keys.js';
import {
  claimPendingSchedulerEvents,
  insertSchedulerEvents,
} from '../../shared/db/queries/scheduler-events.js';
import { applyChildKeyPatch } from '../../shared/keys/child-keys.js';
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

/** The alerts raised for a key as `limit:threshold:period`, sorted. */
const alertedPeriods = async (f: KeyFixture) =>
  (await deliveriesOf(w.env.ctx, f.accountId, 'key.limit_threshold'))
    .map((d) => `${d.payload.data.limit}:${d.payload.data.threshold}:${d.payload.data.period}`)
    .sort();

describe('scheduler: limit alerts', () => {
  it('raises 80% and 100% of the daily and monthly limits once per period, reservations included', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await watchedKey({ limitDaily: 1000n, limitMonthly: 2500n });
    await w.env.ctx
      .sql`update child_keys set name = 'Client A', metadata = ${w.env.ctx.sql.json({ customer_id: 'c_42' })} where id = ${f.key.id}`;
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
      // Which of the owner's customers it is about, without another call.
      name: 'Client A',
      metadata: { customer_id: 'c_42' },
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

  it('looks back at yesterday on every run of the grace: a hold recorded after the first run of the day', async () => {
    clock.set('2026-12-31T23:59:30.000Z');
    const f = await watchedKey({ limitDaily: 1000n, limitMonthly: 1000n });
    await limitAlerts(w.env.ctx, w.queues);
    clock.set('2027-01-01T00:00:00.000Z');
    await limitAlerts(w.env.ctx, w.queues); // the day's first run: nothing to see yet
    // Admitted at 23:59:59.9 by an api whose hold row lands after that run (a sync chat's
    // background write, or a clock a little behind), settled into Dec 31.
    clock.set('2026-12-31T23:59:59.900Z');
    const id = await hold(w.env.ctx, f.key, 1000n);
    clock.set('2027-01-01T00:00:05.000Z');
    await settleHolds(w.env.ctx, [{ holdId: id, outcome: 'post', promptTokens: 1000, completionTokens: 0 }]);
    clock.set('2027-01-01T00:00:30.000Z');
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alertedPeriods(f)).toEqual([
      'daily:100:2026-12-31',
      'daily:80:2026-12-31',
      'monthly:100:2026-12',
      'monthly:80:2026-12',
    ]);
  });

  it('catches up on the days and the month a scheduler was down across', async () => {
    clock.set('2027-01-30T10:00:00.000Z');
    const f = await watchedKey({ limitDaily: 1000n, limitMonthly: 1000n });
    await limitAlerts(w.env.ctx, w.queues);
    clock.set('2027-01-30T12:00:00.000Z');
    await spend(f, 900); // 90% of Jan 30 and of January, after the last run
    clock.set('2027-02-02T08:00:00.000Z'); // the scheduler back
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alertedPeriods(f)).toEqual(['daily:80:2027-01-30', 'monthly:80:2027-01']);
  });

  it('raises the threshold a limit lowered below what the key used crosses, with no new spend', async () => {
    clock.set('2027-03-10T10:00:00.000Z');
    const f = await watchedKey({ limitDaily: 1000n });
    await spend(f, 500);
    await limitAlerts(w.env.ctx, w.queues);
    clock.set('2027-03-10T15:00:00.000Z');
    await limitAlerts(w.env.ctx, w.queues); // the spend is now older than any run looks back at
    expect(await alerts(f)).toEqual([]);
    // What PATCH {limit_daily_ngonka: "550"} writes.
    const row = await findChildKey(w.env.ctx.sql, f.accountId, f.key.management_key_id, f.key.id);
    const next = applyChildKeyPatch(row!, { limit_daily_ngonka: 550n }, clock.now());
    await updateChildKey(w.env.ctx.sql, f.key.id, next, clock.now());
    clock.set('2027-03-10T15:00:30.000Z');
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toEqual(['daily:80:500/550']);
  });

  it('alerts again at 80% of a limit raised after its 80% alert, in the same day', async () => {
    clock.set('2027-04-10T10:00:00.000Z');
    const f = await watchedKey({ limitDaily: 1000n });
    await spend(f, 850);
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toEqual(['daily:80:850/1000']);
    // The owner raises it; the key spends on to 80% of the new limit.
    const row = await findChildKey(w.env.ctx.sql, f.accountId, f.key.management_key_id, f.key.id);
    const raised = await updateChildKey(
      w.env.ctx.sql,
      f.key.id,
      applyChildKeyPatch(row!, { limit_daily_ngonka: 2000n }, clock.now()),
      clock.now(),
    );
    await publishChildKeyState(w.env.ctx, raised); // as the PATCH route does: admission sees it
    clock.set('2027-04-10T10:01:00.000Z');
    await limitAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toEqual(['daily:80:850/1000']);
    await spend(f, 750);
    clock.set('2027-04-10T10:01:30.000Z');
    await limitAlerts(w.env.ctx, w.queues);
    expect((await alerts(f)).sort()).toEqual(['daily:80:1600/2000', 'daily:80:850/1000']);
  });
});
