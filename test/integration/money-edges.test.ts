import { describe, expect, it } from 'vitest';
import { settleHolds } from '../../shared/ledger/settle.js';
import { topup } from '../../shared/ledger/topup.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { holdFor as hold } from '../helpers/admit.js';
import { availability as availabilityOf } from '../helpers/books.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { partialLossWorld } from '../helpers/partial-loss.js';
import { outcome } from '../helpers/scheduler.js';
import { failingOnce, racingOnce, withScriptHook } from '../helpers/script-hooks.js';

const env = partialLossWorld();
const { flushAccount } = env;

/** Redis available vs Postgres (balance − open holds). */
const availability = (accountId: string) => availabilityOf(env.ctx, accountId);

/**
 * The money path under races and failures between its Postgres and Redis halves (found in review).
 * Prices: 10 nGNK a token, markup ×1.2.
 */
describe('money path: Redis and Postgres stay together', () => {
  it('a hold settling while two keys rebuild their state never gives its reservation back twice', async () => {
    const k1 = await createKeyFixture(env.ctx, { balance: 10_000n });
    const k2 = await createKeyFixture(env.ctx, { accountId: k1.accountId });
    const y = await hold(env.ctx, k2.key, 1_000n);
    await flushAccount(k1.accountId); // Redis lost the account (restart, flush)
    await hold(env.ctx, k1.key, 100n); // k1's loader: balance + every open hold's record (y's too)
    // k2's first request loads k2's counters; y settles between that loader's snapshot and its put-back.
    let injected = false;
    const racing = withScriptHook(env.ctx, async (n, k) => {
      if (n !== 'loadCounters' || injected || k[0] !== env.ctx.keys.childKey(k2.accountId, k2.key.id)) return;
      injected = true;
      await settleHolds(env.ctx, [
        { holdId: y.hold.id, outcome: 'post', promptTokens: 20, completionTokens: 30 },
      ]);
    });
    await hold(racing, k2.key, 100n);
    expect(injected).toBe(true);
    // Tight until the check (y's record was lost, so its settlement gave nothing back), never loose.
    const av = await availability(k1.accountId);
    expect(av.postgres).toBe(10_000n - 600n - 200n);
    expect(av.redis).toBeLessThanOrEqual(av.postgres);
    // y settled before any check could put its record back: the operator's --fix mends it.
    await runReconcile(env.ctx, { fix: true });
    const mended = await availability(k1.accountId);
    expect(mended.redis).toBe(mended.postgres);
  });

  it('lets no older read write a balance a newer load wrote, even when Redis loses it again between', async () => {
    const k1 = await createKeyFixture(env.ctx, { balance: 1_000n });
    const k2 = await createKeyFixture(env.ctx, { accountId: k1.accountId });
    await flushAccount(k1.accountId);
    // k1's loader has read Postgres (1,000 available); before it writes, k2's loads, k2 spends 900,
    // and Redis loses the balance again.
    const racing = racingOnce(env.ctx, 'loadBalance', async () => {
      expect(await outcome(hold(env.ctx, k2.key, 900n))).toBe('ok');
      await env.ctx.redis.del(env.ctx.keys.balance(k1.accountId));
    });
    await hold(racing, k1.key, 50n);
    expect(racing.raced()).toBe(true);
    // Its old read is refused and read again: 1,000 − 900 − 50, not 1,000 − 50.
    expect(await availability(k1.accountId)).toEqual({ redis: 50n, postgres: 50n });
    expect(await outcome(hold(env.ctx, k2.key, 100n))).toBe('insufficient_balance');
  });

  it('counts a top-up that commits between a balance load’s read and its write, once', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000n });
    await flushAccount(f.accountId); // Redis lost the account
    // The owner's payment lands after the load read Postgres, before it writes the balance.
    const racing = racingOnce(env.ctx, 'loadBalance', () =>
      topup(env.ctx, { accountId: f.accountId, amount: 5_000n, reference: 'pay-race' }),
    );
    await hold(racing, f.key, 100n);
    expect(racing.raced()).toBe(true);
    expect(await availability(f.accountId)).toEqual({ redis: 5_900n, postgres: 5_900n });
    // A resend of the same top-up adds nothing.
    await topup(env.ctx, { accountId: f.accountId, amount: 5_000n, reference: 'pay-race' });
    expect(await availability(f.accountId)).toEqual({ redis: 5_900n, postgres: 5_900n });
  });

  it.each([
    ['its counters (an eviction; its balance and y’s record stay)', 'counters'],
    ['everything (a restart: y’s record too, so its release finds none)', 'all'],
    ['only the key’s state (its counters stay, and y’s release updates them)', 'state'],
  ] as const)(
    'counts a settlement that commits between a load’s read and its write, Redis having lost %s',
    async (_, lost) => {
      const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 5_000n });
      const y = await hold(env.ctx, f.key, 1_000n);
      const day = env.ctx.keys.day(f.accountId, f.key.id, y.hold.periodDay.replaceAll('-', ''));
      const state = env.ctx.keys.childKey(f.accountId, f.key.id);
      if (lost === 'counters') await env.ctx.redis.del(day, state);
      else if (lost === 'state') await env.ctx.redis.del(state);
      else await flushAccount(f.accountId);
      // y is billed 600 after the load read 1,000 reserved for it, before it writes the counters.
      const racing = racingOnce(env.ctx, 'loadCounters', () =>
        settleHolds(env.ctx, [
          { holdId: y.hold.id, outcome: 'post', promptTokens: 20, completionTokens: 30 },
        ]),
      );
      await hold(racing, f.key, 100n);
      expect(racing.raced()).toBe(true);
      // 600 spent + 100 held, not y's whole 1,000 reservation still counted.
      expect(await env.ctx.redis.get(day)).toBe('700');
      expect(await availability(f.accountId)).toEqual({ redis: 9_300n, postgres: 9_300n });
      expect((await runReconcile(env.ctx)).ok).toBe(true);
    },
  );

  it('counts a top-up landing while a load runs even when Redis is lost again in between (no epoch comes back)', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000n });
    await flushAccount(f.accountId);
    await topup(env.ctx, { accountId: f.accountId, amount: 1n, reference: 'before' }); // moves the epoch once
    const racing = racingOnce(env.ctx, 'loadCounters', async () => {
      await flushAccount(f.accountId); // lost again mid-load, the epoch with it
      await topup(env.ctx, { accountId: f.accountId, amount: 5_000n, reference: 'during' }); // moves it once
    });
    await hold(racing, f.key, 100n);
    expect(racing.raced()).toBe(true);
    expect(await availability(f.accountId)).toEqual({ redis: 5_901n, postgres: 5_901n });
  });

  it('answers 503 with Retry-After when every load of a key’s state goes stale before its write', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000n });
    await flushAccount(f.accountId);
    let loads = 0;
    const busy = withScriptHook(env.ctx, async (n) => {
      if (n !== 'loadBalance') return; // a load's first write when the balance is missing
      loads++; // a release to the account finds its balance missing, before every write
      await env.ctx.redis.incr(env.ctx.keys.loadEpoch(f.accountId));
    });
    const err = await hold(busy, f.key, 100n).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'service_unavailable', headers: { 'retry-after': '2' } });
    expect(loads).toBe(15); // 3 loads of 5 reads each, then the answer
    expect(await env.ctx.redis.exists(env.ctx.keys.balance(f.accountId))).toBe(0); // nothing stale written
    await hold(env.ctx, f.key, 100n); // quiet again: the next request loads and is admitted
  });

  it('puts back no hold record where Redis has no balance, so a release cannot give it back twice', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const y = await hold(env.ctx, f.key, 1_000n);
    await flushAccount(f.accountId); // Redis restart
    await runReconcile(env.ctx, { restoreHoldRecords: true }); // the scheduled check
    expect(await env.ctx.redis.exists(env.ctx.keys.hold(f.accountId, y.hold.id))).toBe(0);
    // y settles, its Redis release lost (a worker killed after the commit); the next request
    // loads the balance with y posted; the next check finishes the settlements it can.
    await settleHolds(failingOnce(env.ctx, 'releaseHolds'), [
      { holdId: y.hold.id, outcome: 'post', promptTokens: 20, completionTokens: 30 },
    ]).catch(() => {});
    await hold(env.ctx, f.key, 100n);
    await runReconcile(env.ctx, { restoreHoldRecords: true, finishSettlements: true });
    expect(await availability(f.accountId)).toEqual({ redis: 9_300n, postgres: 9_300n });
  });

  it('books the upstream cost at most at the escrow, so a charge capped at its hold keeps a margin', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(env.ctx, f.key, 100n);
    await settleHolds(env.ctx, [
      { holdId: a.hold.id, outcome: 'post', promptTokens: 500, completionTokens: 500 },
    ]);
    const legs = await env.ctx.sql<{ a: string; amount: bigint }[]>`
      select p.ledger_account_id as a, p.amount from postings p join transfers t on t.id = p.transfer_id
      where t.kind = 'charge' and t.ref = (select charge_ref from holds where id = ${a.hold.id})`;
    const revenue = legs.find((l) => l.a === 'sys_revenue')!.amount;
    // charge 100 (the hold), upstream capped at the escrow 100 × 10000 / 12000 = 83
    expect(legs.find((l) => l.a === 'sys_upstream_cost')?.amount).toBe(83n);
    expect(revenue).toBe(17n);
  });

  it('pays referrers from a hold’s margin and never beyond it', async () => {
    const referrer = await createKeyFixture(env.ctx);
    const spender = await createKeyFixture(env.ctx, { balance: 100_000n, referredBy: referrer.accountId });
    const a = await hold(env.ctx, spender.key, 50_000n, { markupBps: 10_500 });
    await settleHolds(env.ctx, [
      { holdId: a.hold.id, outcome: 'post', promptTokens: 500, completionTokens: 500 },
    ]);
    const legs = await env.ctx.sql<{ a: string; amount: bigint }[]>`
      select p.ledger_account_id as a, p.amount from postings p join transfers t on t.id = p.transfer_id
      where t.ref = (select charge_ref from holds where id = ${a.hold.id}) order by p.amount`;
    // Margin 500 (sys_revenue), all of it to L1 (10% of 10,500 would be 1,050), paid through the
    // referral payouts account.
    expect(legs.map(({ a, amount }) => ({ a, amount }))).toEqual([
      { a: spender.accountId, amount: -10_500n },
      { a: 'sys_referral_payouts', amount: -500n },
      { a: 'sys_revenue', amount: 500n },
      { a: referrer.accountId, amount: 500n },
      { a: 'sys_upstream_cost', amount: 10_000n },
    ]);
  });

  it('credits referral payouts to the referrer’s Redis balance too', async () => {
    const referrer = await createKeyFixture(env.ctx, { balance: 1_000n });
    const r = await hold(env.ctx, referrer.key, 100n); // loads the referrer's Redis state
    await settleHolds(env.ctx, [{ holdId: r.hold.id, outcome: 'void' }]);
    const spender = await createKeyFixture(env.ctx, { balance: 100_000n, referredBy: referrer.accountId });
    const a = await hold(env.ctx, spender.key, 50_000n);
    await settleHolds(env.ctx, [
      { holdId: a.hold.id, outcome: 'post', promptTokens: 500, completionTokens: 500 },
    ]);
    // charge 12,000 → L1 earns 1,200 in Postgres
    const av = await availability(referrer.accountId);
    expect(av.postgres).toBe(2_200n);
    expect(av.redis).toBe(av.postgres);
  });

  it('repeats the Redis release of a hold an earlier run committed but failed to release', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(env.ctx, f.key, 3_000n);
    const s = { holdId: a.hold.id, outcome: 'post' as const, promptTokens: 20, completionTokens: 30 };
    await expect(settleHolds(failingOnce(env.ctx, 'releaseHolds'), [s])).rejects.toThrow();
    // what the settlement worker (one-by-one fallback) / BullMQ retry / sweeper do next:
    const [again] = await settleHolds(env.ctx, [s]);
    expect(again?.status).toBe('already');
    const av = await availability(f.accountId);
    expect(av.postgres).toBe(9_400n);
    expect(av.redis).toBe(av.postgres);
  });
});
