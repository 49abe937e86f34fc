import { describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { ManualClock } from '../../shared/clock.js';
import type { Context } from '../../shared/context.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { dayKey, monthKey } from '../../shared/periods.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { loadReconcileSummary } from '../../shared/reconcile/summary.js';
import { reconcileCheck } from '../../shared/scheduler/tasks/reconcile-check.js';
import { availability as availabilityOf } from '../helpers/books.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { schedulerEnv } from '../helpers/scheduler.js';
import { withScriptHook } from '../helpers/script-hooks.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
const w = schedulerEnv(clock);

/** Price 10 nGNK a token, markup ×1.2: 12 nGNK charged a token, 2 of margin for the referrer. */
const hold = async (f: KeyFixture, estimate: bigint) =>
  (
    await admit(w.env.ctx, {
      key: f.key,
      estimate,
      model: 'm',
      pricePerToken: 10n,
      markupBps: 12_000,
      holdTtlMs: 600_000,
    })
  ).hold.id;

/**
 * The context of a settlement worker SIGKILLed right after its Postgres commit: none of its Redis
 * steps (the hold's release, the referral credits) reach Redis.
 */
function killedAfterCommit(ctx: Context): Context {
  return withScriptHook(ctx, (name) => {
    if (name === 'releaseHolds' || name === 'creditBalance') throw new Error('worker killed');
  });
}

/** Redis available vs Postgres (balance − open holds). */
const availability = (accountId: string) => availabilityOf(w.env.ctx, accountId);

const dayCounter = (f: KeyFixture) => w.env.ctx.keys.day(f.accountId, f.key.id, dayKey(clock.now()));
const monthCounter = (f: KeyFixture) => w.env.ctx.keys.month(f.accountId, f.key.id, monthKey(clock.now()));

/** A referrer whose balance Redis has loaded (a referral credit reaches only a loaded balance). */
async function loadedReferrer(): Promise<KeyFixture> {
  const r = await createKeyFixture(w.env.ctx, { balance: 1_000n });
  await settleHolds(w.env.ctx, [{ holdId: await hold(r, 100n), outcome: 'void' }]);
  return r;
}

/** A request of 50 tokens (600 nGNK) on `f`, settled in Postgres by a worker killed before Redis. */
async function settledUnreleased(f: KeyFixture) {
  const s = {
    holdId: await hold(f, 3_000n),
    outcome: 'post' as const,
    promptTokens: 20,
    completionTokens: 30,
  };
  await expect(settleHolds(killedAfterCommit(w.env.ctx), [s])).rejects.toThrow('worker killed');
  // Its message waits for its lock to expire, to run again.
  await w.queues.add('settlement', { items: [s], enqueuedAt: Date.now() }, { delay: 3_600_000 });
  return s;
}

describe('reconcile: settlements committed whose Redis release has not run yet', () => {
  it('the scheduled check finishes the release (and the referral credit) instead of reporting drift', async () => {
    const referrer = await loadedReferrer();
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n, referredBy: referrer.accountId });
    const s = await settledUnreleased(f);
    // The state the soak's check saw: Redis still reserves the 3,000 Postgres charged 600 of.
    const before = await runReconcile(w.env.ctx, { queues: w.queues, inflightMs: 0 });
    expect(before.checks).toMatchObject({ redis_hold_records: 1, redis_counters: 2, redis_balance: 2 });

    const check = await reconcileCheck(w.env.ctx, w.queues);
    expect(check).toMatchObject({ ok: true, drift: 0 });
    expect(Object.values((await loadReconcileSummary(w.env.ctx))!.checks).every((n) => n === 0)).toBe(true);
    expect(await w.env.ctx.redis.exists(w.env.ctx.keys.hold(f.accountId, s.holdId))).toBe(0);
    expect(await w.env.ctx.redis.get(dayCounter(f))).toBe('600');
    expect(await w.env.ctx.redis.get(monthCounter(f))).toBe('600');
    expect(await availability(f.accountId)).toEqual({ redis: 9_400n, postgres: 9_400n });
    // The credit's resend found no marker: the referrer's balance is loaded again, 10% L1 and all.
    expect(await w.env.ctx.redis.exists(w.env.ctx.keys.balance(referrer.accountId))).toBe(0);
    await settleHolds(w.env.ctx, [{ holdId: await hold(referrer, 100n), outcome: 'void' }]);
    expect(await availability(referrer.accountId)).toEqual({ redis: 1_060n, postgres: 1_060n });

    // The killed message runs again at last: its release and credit were done once, not again.
    const [again] = await settleHolds(w.env.ctx, [s]);
    expect(again?.status).toBe('already');
    expect(await availability(f.accountId)).toEqual({ redis: 9_400n, postgres: 9_400n });
    expect(await availability(referrer.accountId)).toEqual({ redis: 1_060n, postgres: 1_060n });
    expect((await runReconcile(w.env.ctx, { queues: w.queues, inflightMs: 0 })).ok).toBe(true);
    await w.queues.get('settlement').obliterate({ force: true });
  });

  it('still reports a balance or a counter off with no unreleased hold behind it', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    await hold(f, 1_000n); // open, as live traffic leaves it
    await settledUnreleased(f);
    // Real drift on top: Redis gives the account 7 it does not have, and the key 5 it did not spend.
    await w.env.ctx.redis.incrby(w.env.ctx.keys.balance(f.accountId), 7);
    await w.env.ctx.redis.incrby(dayCounter(f), 5);

    expect(await reconcileCheck(w.env.ctx, w.queues)).toMatchObject({ ok: false, drift: 2 });
    expect((await loadReconcileSummary(w.env.ctx))!.checks).toMatchObject({
      redis_balance: 1,
      redis_counters: 1,
      redis_hold_records: 0,
    });
    // Judged after the release: off by exactly the drift, not by the settled hold's reservation.
    const report = await runReconcile(w.env.ctx, { queues: w.queues, inflightMs: 0 });
    expect(
      report.drift.map(({ check, subject, expected, actual }) => ({ check, subject, expected, actual })),
    ).toEqual(
      expect.arrayContaining([
        {
          check: 'redis_balance',
          subject: w.env.ctx.keys.balance(f.accountId),
          expected: '8400',
          actual: '8407',
        },
        { check: 'redis_counters', subject: dayCounter(f), expected: '1600', actual: '1605' },
      ]),
    );
    expect(report.drift).toHaveLength(2);
    await runReconcile(w.env.ctx, { fix: true, inflightMs: 0 });
    await w.queues.get('settlement').obliterate({ force: true });
  });
});
