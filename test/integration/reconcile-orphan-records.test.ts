import { describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { ManualClock } from '../../shared/clock.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { dayKey, monthKey } from '../../shared/periods.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { ORPHAN_AFTER_MS } from '../../shared/reconcile/release-orphans.js';
import type { DriftItem } from '../../shared/reconcile/types.js';
import { INSTANCE_ID } from '../../shared/redis/instance.js';
import { reconcileCheck } from '../../shared/scheduler/tasks/reconcile-check.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { schedulerEnv } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
const w = schedulerEnv(clock);

const HOLD_TTL_MS = 600_000;
/** Past the hold's deadline by the grace (HOLD_GRACE_SECONDS, 300 s by default), and a little more. */
const PAST_DEADLINE_AND_GRACE_MS = HOLD_TTL_MS + 300_000 + 1_000;

/**
 * A sync request admitted by an api SIGKILLed before its hold's insert: Redis reserved the
 * estimate and wrote the hold's record; Postgres never heard of it (the write never happens).
 */
async function orphan(f: KeyFixture, estimate: bigint): Promise<string> {
  const admission = await admit(w.env.ctx, {
    key: f.key,
    estimate,
    model: 'm',
    pricePerToken: 10n,
    markupBps: 12_000,
    holdTtlMs: HOLD_TTL_MS,
    write: () => new Promise<void>(() => {}),
    background: true,
  });
  return admission.hold.id;
}

async function redisState(f: KeyFixture, holdId: string, at: Date) {
  const { redis, keys } = w.env.ctx;
  const [bal, day, month, record] = await Promise.all([
    redis.get(keys.balance(f.accountId)),
    redis.get(keys.day(f.accountId, f.key.id, dayKey(at))),
    redis.get(keys.month(f.accountId, f.key.id, monthKey(at))),
    redis.exists(keys.hold(f.accountId, holdId)),
  ]);
  return { bal, day, month, record };
}

/** The admitting process (this one) says it is alive, as a running api does (redis/instance.ts). */
const heartbeat = (alive: boolean) =>
  alive
    ? w.env.ctx.redis.set(w.env.ctx.keys.instance(INSTANCE_ID), '1', 'PX', 60_000)
    : w.env.ctx.redis.del(w.env.ctx.keys.instance(INSTANCE_ID));

/**
 * The scheduled check gives the whole reservation back (of 10,000, with 3,000 held), and then has
 * nothing left to report: Redis agrees with Postgres, which never had the hold.
 */
async function expectGivenBack(f: KeyFixture, holdId: string, admittedAt: Date): Promise<void> {
  const check = await reconcileCheck(w.env.ctx, w.queues);
  expect(await redisState(f, holdId, admittedAt)).toEqual({ bal: '10000', day: '0', month: '0', record: 0 });
  expect(check).toMatchObject({ ok: true, drift: 0 });
}

describe('reconcile: hold records Postgres never got a row for (an api killed before its write)', () => {
  it('gives back at once what a dead api admitted, a minute after; never what a live one did', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const admittedAt = clock.now();
    const holdId = await orphan(f, 3_000n);
    // Alive (its write may be stuck, not lost): kept, however long past the minute.
    await heartbeat(true);
    clock.advance(ORPHAN_AFTER_MS * 3);
    await reconcileCheck(w.env.ctx, w.queues);
    expect((await redisState(f, holdId, admittedAt)).bal).toBe('7000');

    // Gone, but not yet a minute after the admission: kept (the heartbeat may just have lapsed).
    await heartbeat(false);
    clock.set(new Date(admittedAt.getTime() + ORPHAN_AFTER_MS - 1));
    await reconcileCheck(w.env.ctx, w.queues);
    expect((await redisState(f, holdId, admittedAt)).bal).toBe('7000');

    // Gone, and the minute is past: nothing will write it, long before its deadline.
    clock.set(new Date(admittedAt.getTime() + ORPHAN_AFTER_MS));
    expect(ORPHAN_AFTER_MS).toBeLessThan(HOLD_TTL_MS);
    await expectGivenBack(f, holdId, admittedAt);
  });

  it('the scheduled check gives the reservation back once the deadline and the grace have passed', async () => {
    expect(w.env.ctx.config.HOLD_GRACE_SECONDS).toBe(300);
    // The api that admitted it is alive (its write stuck, say): only the deadline frees it.
    await heartbeat(true);
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const admittedAt = clock.now();
    const holdId = await orphan(f, 3_000n);
    expect(await redisState(f, holdId, admittedAt)).toEqual({
      bal: '7000',
      day: '3000',
      month: '3000',
      record: 1,
    });

    // Before the deadline (and at it, within the grace) the reservation may still be real.
    clock.advance(HOLD_TTL_MS);
    await reconcileCheck(w.env.ctx, w.queues);
    expect((await redisState(f, holdId, admittedAt)).bal).toBe('7000');

    clock.advance(PAST_DEADLINE_AND_GRACE_MS - HOLD_TTL_MS);
    await expectGivenBack(f, holdId, admittedAt);
    const pg = (await getAccountBalance(w.env.ctx.sql, f.accountId))!;
    expect(pg.balance - pg.held).toBe(10_000n);
  });

  it('gives it back to the counters of the day it was admitted in, not the day the check runs', async () => {
    clock.set('2026-11-27T23:58:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const admittedAt = clock.now();
    const holdId = await orphan(f, 2_500n);
    clock.advance(PAST_DEADLINE_AND_GRACE_MS); // 28 November now
    expect(dayKey(clock.now())).not.toBe(dayKey(admittedAt));
    await reconcileCheck(w.env.ctx, w.queues);
    expect(await redisState(f, holdId, admittedAt)).toEqual({
      bal: '10000',
      day: '0',
      month: '0',
      record: 0,
    });
    expect(
      await w.env.ctx.redis.get(w.env.ctx.keys.day(f.accountId, f.key.id, dayKey(clock.now()))),
    ).toBeNull();
  });

  it('leaves a record whose settlement message still waits: that message bills the request', async () => {
    clock.set('2026-11-26T12:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const admittedAt = clock.now();
    const holdId = await orphan(f, 3_000n);
    // A served request whose hold write failed: its usage and the hold's terms wait in settlement.
    await w.queues.add(
      'settlement',
      {
        items: [{ holdId, outcome: 'post', promptTokens: 10, completionTokens: 20 }],
        enqueuedAt: Date.now(),
      },
      { delay: 3_600_000 },
    );
    clock.advance(PAST_DEADLINE_AND_GRACE_MS);
    await reconcileCheck(w.env.ctx, w.queues);
    expect(await redisState(f, holdId, admittedAt)).toMatchObject({ bal: '7000', record: 1 });
  });

  it('leaves the record of a hold that is open in Postgres to its settlement and the sweeper', async () => {
    clock.set('2026-11-26T14:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const admittedAt = clock.now();
    const { hold } = await admit(w.env.ctx, {
      key: f.key,
      estimate: 3_000n,
      model: 'm',
      pricePerToken: 10n,
      markupBps: 12_000,
      holdTtlMs: HOLD_TTL_MS,
    });
    clock.advance(PAST_DEADLINE_AND_GRACE_MS);
    // Report only (no fix, no scheduled sweep): the open hold and its record stay as they are.
    await runReconcile(w.env.ctx, { queues: w.queues, releaseOrphans: true });
    expect(await redisState(f, hold.id, admittedAt)).toMatchObject({ bal: '7000', record: 1 });
  });

  it('a report without --fix gives nothing back', async () => {
    clock.set('2026-11-26T16:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const admittedAt = clock.now();
    const holdId = await orphan(f, 3_000n);
    clock.advance(PAST_DEADLINE_AND_GRACE_MS);
    await runReconcile(w.env.ctx, { queues: w.queues });
    expect(await redisState(f, holdId, admittedAt)).toMatchObject({ bal: '7000', record: 1 });
  });

  it('while it lives, --fix judges its key’s counters with its reservation: raises a loose one, leaves a tight one', async () => {
    clock.set('2026-11-26T18:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const admittedAt = clock.now();
    const holdId = await orphan(f, 3_000n);
    const { redis, keys } = w.env.ctx;
    const day = keys.day(f.accountId, f.key.id, dayKey(admittedAt));
    const month = keys.month(f.accountId, f.key.id, monthKey(admittedAt));
    // (Earlier tests' orphans live on in other accounts.)
    const mine = (r: { drift: DriftItem[] }) => r.drift.filter((d) => d.subject.includes(f.accountId));
    // Counted with its reservation, Redis agrees with Postgres: only the record itself is reported.
    const clean = await runReconcile(w.env.ctx, { inflightMs: 0 });
    expect(mine(clean).map((d) => d.check)).toEqual(['redis_hold_records']);

    // Below Postgres's 0 + its 3,000 the day counter is loose: the key could spend past its limit.
    await redis.set(day, '1000');
    // Above it the month counter is tight: left until the reservation is given back.
    await redis.set(month, '3500');
    const report = await runReconcile(w.env.ctx, { fix: true, inflightMs: 0 });
    expect(
      mine(report)
        .filter((d) => d.check === 'redis_counters')
        .map(({ subject, expected, actual }) => ({ subject, expected, actual })),
    ).toEqual([
      { subject: day, expected: '3000', actual: '1000' },
      { subject: month, expected: '3000', actual: '3500' },
    ]);
    expect(await redisState(f, holdId, admittedAt)).toEqual({
      bal: '7000',
      day: '3000',
      month: '3500',
      record: 1,
    });

    // Given back once past its deadline and the grace: the day counter ends where Postgres says.
    clock.advance(PAST_DEADLINE_AND_GRACE_MS);
    await runReconcile(w.env.ctx, { fix: true, queues: w.queues, inflightMs: 0 });
    expect(await redisState(f, holdId, admittedAt)).toEqual({
      bal: '10000',
      day: '0',
      month: '0',
      record: 0,
    });
  });
});
