import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { expireKeys } from '../../shared/scheduler/tasks/expire-keys.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { deliveriesOf, hold, outcome, schedulerEnv, subscribeAll } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
const w = schedulerEnv(clock);

const row = async (id: string) =>
  (await w.env.ctx.sql`select status, version from child_keys where id = ${id}`)[0] as {
    status: string;
    version: bigint;
  };

describe('scheduler: key TTL expiry', () => {
  it('expires a key past expires_at: status, Redis state, key.expired event, admission refuses', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, {
      balance: 1000n,
      expiresAt: new Date('2026-11-26T10:05:00.000Z'),
    });
    await subscribeAll(w.env.ctx, f.accountId);
    await w.env.ctx
      .sql`update child_keys set metadata = ${w.env.ctx.sql.json({ customer_id: 'c_7' })} where id = ${f.key.id}`;
    expect(await outcome(hold(w.env.ctx, f.key, 10n))).toBe('ok'); // loads the key into Redis

    expect((await expireKeys(w.env.ctx, w.queues)).expired).toBe(0); // not yet
    clock.set('2026-11-26T10:05:00.000Z');
    // Admission needs no scheduler: refused from the instant of expiry.
    expect(await outcome(hold(w.env.ctx, f.key, 10n))).toBe('key_expired');

    const res = await expireKeys(w.env.ctx, w.queues);
    expect(res.expired).toBe(1);
    expect(await row(f.key.id)).toEqual({ status: 'expired', version: 2n });
    const state = await w.env.ctx.redis.hgetall(w.env.ctx.keys.childKey(f.accountId, f.key.id));
    expect(state).toMatchObject({ st: 'expired', v: '2' });

    const events = await deliveriesOf(w.env.ctx, f.accountId, 'key.expired');
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({
      type: 'key.expired',
      data: {
        key_id: f.key.id,
        management_key_id: f.mkId,
        name: 'ck',
        metadata: { customer_id: 'c_7' },
        expires_at: '2026-11-26T10:05:00.000Z',
      },
    });
    // The delivery is queued for the webhook worker.
    const waiting = await w.queues.get('webhooks').getJobCounts('waiting', 'delayed', 'prioritized');
    expect(Object.values(waiting).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(await outcome(hold(w.env.ctx, f.key, 10n))).toBe('key_expired');
  });

  it('acts once however often it runs, even concurrently', async () => {
    clock.set('2026-11-26T11:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { expiresAt: new Date('2026-11-26T11:00:30.000Z') });
    await subscribeAll(w.env.ctx, f.accountId);
    clock.set('2026-11-26T11:01:00.000Z');
    const runs = await Promise.all([
      expireKeys(w.env.ctx, w.queues),
      expireKeys(w.env.ctx, w.queues),
      expireKeys(w.env.ctx, w.queues),
    ]);
    expect(runs.reduce((n, r) => n + r.expired, 0)).toBe(1);
    await expireKeys(w.env.ctx, w.queues);
    expect(await row(f.key.id)).toEqual({ status: 'expired', version: 2n });
    expect(await deliveriesOf(w.env.ctx, f.accountId, 'key.expired')).toHaveLength(1);
  });

  it('catches up after downtime: every key past its expiry, however long ago, in one run', async () => {
    clock.set('2026-11-20T00:00:00.000Z');
    const first = await createKeyFixture(w.env.ctx, { expiresAt: new Date('2026-11-21T00:00:00.000Z') });
    const keys = [first];
    for (let i = 0; i < 4; i++)
      keys.push(
        await createKeyFixture(w.env.ctx, {
          accountId: first.accountId,
          expiresAt: new Date(Date.UTC(2026, 10, 22 + i)),
        }),
      );
    const later = await createKeyFixture(w.env.ctx, {
      accountId: first.accountId,
      expiresAt: new Date('2026-12-30T00:00:00.000Z'),
    });
    clock.set('2026-11-27T00:00:00.000Z');
    await expireKeys(w.env.ctx, w.queues);
    for (const k of keys) expect((await row(k.key.id)).status).toBe('expired');
    expect((await row(later.key.id)).status).toBe('active');
  });

  it('keeps a disabled key disabled, announcing its expiry once; a deleted key is left alone', async () => {
    clock.set('2026-11-26T12:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { expiresAt: new Date('2026-11-26T12:01:00.000Z') });
    await subscribeAll(w.env.ctx, f.accountId);
    const sibling = (status: string) =>
      createKeyFixture(w.env.ctx, {
        accountId: f.accountId,
        expiresAt: new Date('2026-11-26T12:01:00.000Z'),
      }).then(async (k) => {
        await w.env.ctx.sql`update child_keys set status = ${status} where id = ${k.key.id}`;
        return k.key.id;
      });
    const disabled = await sibling('disabled');
    const deleted = await sibling('deleted');
    clock.set('2026-11-26T12:02:00.000Z');
    await expireKeys(w.env.ctx, w.queues);
    await expireKeys(w.env.ctx, w.queues);
    expect((await row(disabled)).status).toBe('disabled');
    expect((await row(deleted)).status).toBe('deleted');
    const announced = async () =>
      (await deliveriesOf(w.env.ctx, f.accountId, 'key.expired')).map((d) => d.payload.data.key_id as string);
    expect((await announced()).sort()).toEqual([f.key.id, disabled].sort());

    // The owner gives the expired key a new TTL (what PATCH expires_at does), and it runs out again.
    await w.env.ctx.sql`update child_keys set status = 'active', expires_at = '2026-11-26T13:00:00Z',
      version = version + 1 where id = ${f.key.id}`;
    // And the disabled one too: its new expiry is announced when it comes, its status kept.
    await w.env.ctx.sql`update child_keys set expires_at = '2026-11-26T13:00:00Z', version = version + 1
      where id = ${disabled}`;
    clock.set('2026-11-26T13:00:01.000Z');
    await expireKeys(w.env.ctx, w.queues);
    expect((await row(f.key.id)).status).toBe('expired');
    expect((await row(disabled)).status).toBe('disabled');
    expect((await announced()).sort()).toEqual([f.key.id, f.key.id, disabled, disabled].sort());
  });
});

describe('scheduler: a disabled key’s expiry, announced', () => {
  it('looks at the expiries since the last run (and 35 days back without one), not at every one ever', async () => {
    clock.set('2026-11-28T12:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { expiresAt: new Date('2026-12-30T00:00:00.000Z') });
    await subscribeAll(w.env.ctx, f.accountId);
    await w.env.ctx.redis.del(`${w.env.ctx.config.REDIS_PREFIX}:sched:disabled-expiries:since`);
    const disabledKey = async (expiresAt: string) => {
      const k = await createKeyFixture(w.env.ctx, {
        accountId: f.accountId,
        expiresAt: new Date('2026-12-30T00:00:00Z'),
      });
      await w.env.ctx
        .sql`update child_keys set status = 'disabled', expires_at = ${expiresAt} where id = ${k.key.id}`;
      return k.key.id;
    };
    const tooOld = await disabledKey('2026-10-01T00:00:00Z'); // past the 35 days a first run looks back
    const recent = await disabledKey('2026-11-20T00:00:00Z');
    await expireKeys(w.env.ctx, w.queues);
    // Written behind the watermark (no key expires in the past so; a backfill might): not looked at.
    const behind = await disabledKey('2026-11-28T11:00:00Z');
    clock.set('2026-11-28T12:01:00.000Z');
    const next = await disabledKey('2026-11-28T12:00:30Z');
    await expireKeys(w.env.ctx, w.queues);
    const announced = (await deliveriesOf(w.env.ctx, f.accountId, 'key.expired')).map(
      (d) => d.payload.data.key_id as string,
    );
    expect(announced.sort()).toEqual([recent, next].sort());
    expect(announced).not.toContain(tooOld);
    expect(announced).not.toContain(behind);
  });
});
