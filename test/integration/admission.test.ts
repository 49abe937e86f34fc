import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { ManualClock } from '../../shared/clock.js';
import { insertHold, type NewHold } from '../../shared/db/queries/holds.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { ApiError } from '../../shared/errors.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { processRegistry } from '../../shared/metrics/registry.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { flushPrefix, outcome } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv({ clock });
});
afterAll(async () => {
  await env?.close();
});
beforeEach(() => clock.set('2026-11-26T10:00:00.000Z'));

const input = (key: Awaited<ReturnType<typeof createKeyFixture>>['key'], estimate: bigint) => ({
  key,
  estimate,
  model: 'm',
  pricePerToken: 10n,
  markupBps: 10000,
  holdTtlMs: 600_000,
});

describe('admission', () => {
  it('reserves the estimate and records a durable hold', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const a = await admit(env.ctx, input(f.key, 300n));
    const [row] = await env.ctx
      .sql`select amount, status, period_day::text as day from holds where id = ${a.hold.id}`;
    expect(row).toEqual({ amount: 300n, status: 'open', day: '2026-11-26' });
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('700');
  });

  it('keeps the reservation of a hold whose write committed but answered with an error', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    // The insert commits, then the connection loses its reply: the write throws.
    const write = async (h: NewHold) => {
      await insertHold(env.ctx.sql, h);
      throw new Error('connection reset after commit');
    };
    const a = await admit(env.ctx, { ...input(f.key, 300n), write });
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('700');
    // Settled once, the hold gives back what it held, once: Redis and Postgres agree.
    await settleHolds(env.ctx, [{ holdId: a.hold.id, outcome: 'void' }]);
    const pg = (await getAccountBalance(env.ctx.sql, f.accountId))!;
    expect(pg.balance - pg.held).toBe(1000n);
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('1000');
  });

  it('gives back the reservation of a hold whose write failed', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1000n });
    const write = async () => {
      throw new Error('connection refused');
    };
    await expect(admit(env.ctx, { ...input(f.key, 300n), write })).rejects.toThrow('connection refused');
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('1000');
  });

  it('lets 200 concurrent holds racing one balance admit exactly as many as fit', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const results = await Promise.all(
      Array.from({ length: 200 }, () => outcome(admit(env.ctx, input(f.key, 300n)))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(33);
    expect(results.filter((r) => r === 'insufficient_balance')).toHaveLength(167);
    const [held] = await env.ctx
      .sql`select sum(amount)::bigint as s from holds where account_id = ${f.accountId} and status = 'open'`;
    expect(held?.s).toBe(9900n);
  });

  it('lets 500 concurrent requests on one key admit only what the daily limit fits', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n, limitDaily: 1000n });
    const results = await Promise.all(
      Array.from({ length: 500 }, () => outcome(admit(env.ctx, input(f.key, 30n)))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(33);
    expect(new Set(results.filter((r) => r !== 'ok'))).toEqual(new Set(['child_key_limit']));
  });

  it('races many keys of one account on its balance without overdrawing it', async () => {
    const first = await createKeyFixture(env.ctx, { balance: 5_000n });
    const others = await Promise.all(
      Array.from({ length: 9 }, () => createKeyFixture(env.ctx, { accountId: first.accountId })),
    );
    const keys = [first, ...others].map((f) => f.key);
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => outcome(admit(env.ctx, input(keys[i % keys.length]!, 100n)))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(50);
  });

  it('reports what remains and when it resets on a limit refusal', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n, limitMonthly: 2_000n });
    await admit(env.ctx, input(f.key, 400n));
    const err = await admit(env.ctx, input(f.key, 200n)).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.type).toBe('child_key_limit');
    expect(err.extra).toEqual({
      daily_remaining: '100',
      monthly_remaining: '1600',
      daily_resets_at: '2026-11-27T00:00:00.000Z',
      monthly_resets_at: '2026-12-01T00:00:00.000Z',
    });
  });

  // 2^53 nGNK (about 9 million GNK) is where a Lua number stops counting single nGNK.
  const P53 = 2n ** 53n;

  it('holds a daily limit past 2^53 nGNK to the exact nGNK', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 4n * P53, limitDaily: P53 });
    expect(await outcome(admit(env.ctx, input(f.key, P53 - 1n)))).toBe('ok');
    // As doubles, (2^53 - 1) + 2 rounds to 2^53 and would fit.
    const err = await admit(env.ctx, input(f.key, 2n)).catch((e) => e);
    expect(err.type).toBe('child_key_limit');
    expect(err.extra.daily_remaining).toBe('1');
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('ok');
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('child_key_limit');
  });

  it('refuses an estimate one nGNK over a balance past 2^53', async () => {
    const f = await createKeyFixture(env.ctx, { balance: P53 });
    // As doubles, 2^53 + 1 reads as 2^53 and would fit.
    const err = await admit(env.ctx, input(f.key, P53 + 1n)).catch((e) => e);
    expect(err.type).toBe('insufficient_balance');
    expect(err.extra.available_ngonka).toBe(P53.toString());
    expect(await outcome(admit(env.ctx, input(f.key, P53)))).toBe('ok');
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('0');
  });

  it('gives null remaining where no limit is set', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitMonthly: 100n });
    const err = await admit(env.ctx, input(f.key, 200n)).catch((e) => e);
    expect(err.extra.daily_remaining).toBeNull();
    expect(err.extra.monthly_remaining).toBe('100');
  });

  it('counts only admitted requests in a rolling 60 s window, exact at the edge', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 3 });
    for (let i = 0; i < 3; i++) {
      expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('ok');
      clock.advance(10_000);
    }
    // t = 30 s: the window holds requests at 0, 10, 20 s.
    const refused = await admit(env.ctx, input(f.key, 1n)).catch((e) => e);
    expect(refused.type).toBe('rate_limit_exceeded');
    expect(refused.extra).toEqual({ code: 'rate_limit_exceeded', retry_after_ms: 30_000 });
    expect(refused.headers['retry-after']).toBe('30');
    clock.set('2026-11-26T10:00:59.999Z');
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('rate_limit_exceeded');
    clock.set('2026-11-26T10:01:00.000Z'); // the request at 0 s leaves the window now
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('ok');
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('rate_limit_exceeded');
  });

  it('does not count a request refused for money against the RPM window', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10n, rpm: 1 });
    expect(await outcome(admit(env.ctx, input(f.key, 100n)))).toBe('insufficient_balance');
    expect(await outcome(admit(env.ctx, input(f.key, 5n)))).toBe('ok');
  });

  it('refuses a key at the exact instant it expires', async () => {
    const f = await createKeyFixture(env.ctx, {
      balance: 100n,
      expiresAt: new Date('2026-11-26T10:00:01.000Z'),
    });
    clock.set('2026-11-26T10:00:00.999Z');
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('ok');
    clock.set('2026-11-26T10:00:01.000Z');
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('key_expired');
  });

  it('starts a new day at 00:00 UTC and a new month on the 1st (Dec 31 → Jan 1)', async () => {
    clock.set('2026-12-31T23:59:59.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 100n, limitMonthly: 150n });
    expect(await outcome(admit(env.ctx, input(f.key, 100n)))).toBe('ok');
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('child_key_limit');
    clock.set('2027-01-01T00:00:00.000Z');
    expect(await outcome(admit(env.ctx, input(f.key, 100n)))).toBe('ok');
    const [hold] = await env.ctx
      .sql`select period_day::text as d from holds where child_key_id = ${f.key.id} order by created_at desc limit 1`;
    expect(hold?.d).toBe('2027-01-01');
  });

  it('keeps the month across a day change and resets it on Mar 1 (Feb 28 → Mar 1)', async () => {
    clock.set('2027-02-28T12:00:00.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 100n, limitMonthly: 150n });
    expect(await outcome(admit(env.ctx, input(f.key, 100n)))).toBe('ok');
    clock.set('2027-02-28T23:59:59.999Z');
    expect(await outcome(admit(env.ctx, input(f.key, 60n)))).toBe('child_key_limit');
    clock.set('2027-03-01T00:00:00.000Z');
    expect(await outcome(admit(env.ctx, input(f.key, 100n)))).toBe('ok');
  });

  it('sees a key disabled in Postgres on the very next request once its state is published', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 100n });
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('ok');
    const { publishChildKeyState } = await import('../../shared/admission/key-state.js');
    const [row] = await env.ctx
      .sql`update child_keys set status = 'disabled', version = version + 1 where id = ${f.key.id}
      returning id, account_id, management_key_id, status, limit_daily_ngonka, limit_monthly_ngonka, rate_limit_rpm, expires_at, version,
                key_hash, previous_key_hash, previous_key_expires_at`;
    await publishChildKeyState(env.ctx, row as never);
    expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('key_disabled');
  });

  it('rebuilds its state from Postgres after Redis lost it, with the same limits left', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000n, limitDaily: 500n });
    await admit(env.ctx, input(f.key, 300n));
    const keys = await env.ctx.redis.keys(`${env.config.REDIS_PREFIX}:{a:${f.accountId}}*`);
    await env.ctx.redis.del(...keys);
    expect(await outcome(admit(env.ctx, input(f.key, 201n)))).toBe('child_key_limit');
    expect(await outcome(admit(env.ctx, input(f.key, 200n)))).toBe('ok');
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('500');
  });

  it('reads a day or month counter Redis lost alone as lost, not as nothing spent', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n, limitMonthly: 800n });
    await admit(env.ctx, input(f.key, 300n));
    await env.ctx.redis.del(env.ctx.keys.day(f.accountId, f.key.id, '20261126'));
    expect(await outcome(admit(env.ctx, input(f.key, 201n)))).toBe('child_key_limit');
    expect(await env.ctx.redis.get(env.ctx.keys.day(f.accountId, f.key.id, '20261126'))).toBe('300');
    await env.ctx.redis.del(env.ctx.keys.month(f.accountId, f.key.id, '202611'));
    const err = await admit(env.ctx, input(f.key, 201n)).catch((e) => e);
    expect(err.extra).toMatchObject({ daily_remaining: '200', monthly_remaining: '500' });
    expect(await outcome(admit(env.ctx, input(f.key, 200n)))).toBe('ok');
  });

  it('has reconcile call a lost counter missing, not drift, and --fix put it back', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    await admit(env.ctx, input(f.key, 300n));
    const day = env.ctx.keys.day(f.accountId, f.key.id, '20261126');
    await env.ctx.redis.del(day);
    const looked = await runReconcile(env.ctx, { inflightMs: 0 });
    expect(looked.drift.filter((d) => d.subject === day)).toEqual([]);
    const fixed = await runReconcile(env.ctx, { inflightMs: 0, fix: true });
    expect(fixed.restored).toBeGreaterThan(0);
    expect(await env.ctx.redis.get(day)).toBe('300');
  });

  it('reloads a lost counter once the holds being written have landed', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    // Admitted in Redis, its hold's write still on its way (a sync chat's shares an insert).
    const slowWrite = async (h: NewHold) => {
      await new Promise((r) => setTimeout(r, 50));
      await insertHold(env.ctx.sql, h);
    };
    const first = await admit(env.ctx, { ...input(f.key, 400n), write: slowWrite, background: true });
    await env.ctx.redis.del(env.ctx.keys.day(f.accountId, f.key.id, '20261126'));
    expect(await outcome(admit(env.ctx, input(f.key, 400n)))).toBe('child_key_limit');
    await first.recorded;
    // The same when the key's state went with the counter (an eviction takes both): no `c` to go by.
    const again = await admit(env.ctx, { ...input(f.key, 50n), write: slowWrite, background: true });
    await env.ctx.redis.del(
      env.ctx.keys.day(f.accountId, f.key.id, '20261126'),
      env.ctx.keys.childKey(f.accountId, f.key.id),
    );
    expect(await outcome(admit(env.ctx, input(f.key, 60n)))).toBe('child_key_limit');
    await again.recorded;
  });

  it('loads an account with 20,000 open holds (their records with its balance) without trouble', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000_000n });
    await env.ctx.sql`
      insert into holds (id, request_id, account_id, child_key_id, amount, period_day, model,
                         price_ngonka_per_token, markup_bps, created_at, deadline)
      select 'hold_many_' || i, 'req_many_' || i, ${f.accountId}, ${f.key.id}, 1, '2026-11-26', 'm', 1, 10000,
             ${clock.now()}, ${new Date(clock.now().getTime() + 600_000)}
      from generate_series(1, 20000) as i`;
    expect(await outcome(admit(env.ctx, input(f.key, 5n)))).toBe('ok');
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe(String(10_000_000 - 20_000 - 5));
    expect(await env.ctx.redis.hget(env.ctx.keys.hold(f.accountId, 'hold_many_20000'), 'amt')).toBe('1');
  });

  it('does not reload a key back and forth at midnight for a process whose clock is a little behind', async () => {
    clock.set('2026-11-26T23:59:59.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    await admit(env.ctx, input(f.key, 1n));
    const loadsBefore = await stateLoads();
    for (const at of ['2026-11-27T00:00:00.100Z', '2026-11-26T23:59:59.900Z', '2026-11-27T00:00:00.200Z']) {
      clock.set(at);
      expect(await outcome(admit(env.ctx, input(f.key, 1n)))).toBe('ok');
    }
    expect((await stateLoads()) - loadsBefore).toBe(1); // the new day's, once
    expect(await env.ctx.redis.hget(env.ctx.keys.childKey(f.accountId, f.key.id), 'c')).toBe('20261127');
  });

  it('says a refused key with an empty RPM window has nothing to wait for (reset 0s)', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10n, rpm: 5 });
    const err = await admit(env.ctx, input(f.key, 100n)).catch((e) => e);
    expect(err.type).toBe('insufficient_balance');
    expect(err.headers).toMatchObject({
      'x-ratelimit-remaining-requests': '5',
      'x-ratelimit-reset-requests': '0s',
    });
  });

  it('loads a key’s counters once per UTC day, from what Postgres holds for the day', async () => {
    clock.set('2026-11-26T23:59:59.000Z');
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    await admit(env.ctx, input(f.key, 300n));
    clock.set('2026-11-27T00:00:01.000Z');
    const loadsBefore = await stateLoads();
    await admit(env.ctx, input(f.key, 100n));
    await admit(env.ctx, input(f.key, 100n));
    expect((await stateLoads()) - loadsBefore).toBe(1);
    expect(await env.ctx.redis.hget(env.ctx.keys.childKey(f.accountId, f.key.id), 'c')).toBe('20261127');
    expect(await env.ctx.redis.get(env.ctx.keys.day(f.accountId, f.key.id, '20261127'))).toBe('200');
  });

  it('gives back what a request in flight when Redis lost its data did not use, once it settles', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000n, limitDaily: 500n });
    const inFlight = await admit(env.ctx, input(f.key, 300n));
    await flushPrefix(env.ctx); // its record goes with everything else
    // The next request rebuilds the state from Postgres: 300 of the limit and the balance still held.
    expect(await outcome(admit(env.ctx, input(f.key, 201n)))).toBe('child_key_limit');
    await settleHolds(env.ctx, [
      { holdId: inFlight.hold.id, outcome: 'post', promptTokens: 10, completionTokens: 0 },
    ]);
    // Charged 100 (10 tokens at 10): the other 200 are back in the counter and the balance.
    expect(await env.ctx.redis.get(env.ctx.keys.day(f.accountId, f.key.id, '20261126'))).toBe('100');
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('900');
    expect(await outcome(admit(env.ctx, input(f.key, 400n)))).toBe('ok');
  });

  // After a loss every request of a busy key finds its state missing at once: one rebuild serves
  // them all, not one Postgres snapshot (read twice, across RECONCILE_INFLIGHT_MS) per request.
  it('rebuilds a key once for the requests that find its state missing together', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000n, rpm: 100 });
    await admit(env.ctx, input(f.key, 1n));
    await flushPrefix(env.ctx);
    const loadsBefore = await stateLoads();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => outcome(admit(env.ctx, input(f.key, 1n)))),
    );
    expect(results).toEqual(Array(20).fill('ok'));
    expect((await stateLoads()) - loadsBefore).toBe(1);
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe(String(1_000 - 21));
  });
});

/** gateway_admission_state_loads_total of this process so far. */
async function stateLoads(): Promise<number> {
  const metric = await processRegistry.getSingleMetric('gateway_admission_state_loads_total')?.get();
  return metric?.values[0]?.value ?? 0;
}
