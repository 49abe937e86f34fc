import { describe, expect, it } from 'vitest';
import { toHoldTerms } from '../../shared/ledger/hold-terms.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { dayKey, monthKey } from '../../shared/periods.js';
import { restoreHoldRecords } from '../../shared/reconcile/admission-check.js';
import { compareAccount } from '../../shared/reconcile/compare.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { emptyIds, readRedisAccount } from '../../shared/reconcile/redis-state.js';
import { readTruth, truthPeriod } from '../../shared/reconcile/truth.js';
import { holdFor as hold } from '../helpers/admit.js';
import { availability as availabilityOf } from '../helpers/books.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { partialLossWorld } from '../helpers/partial-loss.js';
import { outcome } from '../helpers/scheduler.js';
import { failingOnce } from '../helpers/script-hooks.js';

const env = partialLossWorld();
const {
  clock,
  post,
  dayCounter,
  monthCounter,
  balance,
  redisValue,
  expectAgreement,
  expectCharged240Held100,
  settledButNotReleased,
  retry,
  slowWrite,
  servedUnwritten,
} = env;

/** What one look of reconciliation finds on `f`'s account (compare.ts), as the busy path gets it. */
async function lookAt(f: KeyFixture, holdIds: string[]) {
  const at = clock.now();
  const ids = emptyIds();
  ids.keys.add(f.key.id);
  ids.mks.add(f.mkId);
  for (const id of holdIds) ids.holds.add(id);
  const period = { day: dayKey(at), month: monthKey(at) };
  const redis = await readRedisAccount(env.ctx.redis, env.ctx.keys, f.accountId, ids, period);
  const truth = (await readTruth(env.ctx, new Map([[f.accountId, ids]]), truthPeriod(at))).get(f.accountId)!;
  return compareAccount(env.ctx, f.accountId, redis, truth, new Set(ids.holds), at, {
    restore: true,
    ...period,
  });
}

/**
 * The index of hold records is what lets a load find them. One Redis lost on its own is reported;
 * a record it no longer names is released by taking the values away to be loaded again (a value
 * rebuilt meanwhile could not see it), and only `--fix`, which sets the values beside it, names it
 * again. (chaos6's finding B: named again by the scheduled check after such a rebuild, its release
 * gave back twice.)
 */
describe('the index of hold records', () => {
  it('lost alone: a late release across a counter rebuilt meanwhile keeps the daily limit', async () => {
    const { f, a } = await settledButNotReleased({ limitDaily: 500n });
    const index = env.ctx.keys.heldRecords(f.accountId);
    await env.ctx.redis.del(index);
    // Redis loses the day counter too; the next request rebuilds it (240 charged, its own 100) without
    // seeing a's record, to be released.
    await env.ctx.redis.del(dayCounter(f));
    await hold(env.ctx, f.key, 100n);
    expect(await redisValue(dayCounter(f))).toBe(340n);

    const report = await runReconcile(env.ctx, {});
    expect(report.drift.map((d) => d.message)).toContain(
      "hold record missing from its account's index of records",
    );
    await runReconcile(env.ctx, { restoreHoldRecords: true }); // the scheduled check: reported only
    expect(await env.ctx.redis.sismember(index, a.hold.id)).toBe(0);

    await retry(a.hold.id);
    // The counters a load rebuilt since a's admission are taken away, to be loaded again; the
    // balance no load rebuilt gets its 160 back.
    expect(await env.ctx.redis.exists(dayCounter(f))).toBe(0);
    expect(await redisValue(balance(f))).toBe(9_660n);
    // 340 of 500 spent or held: 200 more is over the limit (a release giving back 160 let it in).
    expect(await outcome(hold(env.ctx, f.key, 200n))).toBe('child_key_limit');
    await expectCharged240Held100(f);
  });

  it('lost with the key’s state and its counters: the rebuilt counters’ generation is new, not reused', async () => {
    const { f, a } = await settledButNotReleased({ limitDaily: 500n });
    const k = env.ctx.keys;
    const lost = [
      k.heldRecords(f.accountId),
      k.childKey(f.accountId, f.key.id),
      dayCounter(f),
      monthCounter(f),
    ];
    await env.ctx.redis.del(...lost);
    await hold(env.ctx, f.key, 100n); // the key's state and its counters rebuilt, blind to a's record
    await retry(a.hold.id);
    expect(await outcome(hold(env.ctx, f.key, 200n))).toBe('child_key_limit');
    await expectCharged240Held100(f);
  });

  it('lost alone, nothing rebuilt since: a release gives back as usual, and nothing is loaded blind', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    const a = await hold(env.ctx, f.key, 400n);
    await env.ctx.redis.del(env.ctx.keys.heldRecords(f.accountId));
    await settleHolds(env.ctx, [post(a.hold.id)]);
    expect(await env.ctx.redis.exists(env.ctx.keys.hold(f.accountId, a.hold.id))).toBe(0);
    expect([await redisValue(dayCounter(f)), await redisValue(balance(f))]).toEqual([240n, 9_760n]);
    await hold(env.ctx, f.key, 100n);
    await expectCharged240Held100(f);
  });

  it('lost alone, a release leaves in the values a served request Postgres has no hold for yet (chaos7 F1)', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    // Only Redis knows of its 400 until its settlement writes the hold.
    const served = await servedUnwritten(f, 400n);
    const other = await hold(env.ctx, f.key, 50n);
    await env.ctx.redis.del(env.ctx.keys.heldRecords(f.accountId));
    // Its release used to take the values away, and their load could not see the served request.
    await settleHolds(env.ctx, [{ holdId: other.hold.id, outcome: 'void' }]);
    expect(await redisValue(dayCounter(f))).toBe(400n);
    expect(await outcome(hold(env.ctx, f.key, 450n))).toBe('child_key_limit');
    await settleHolds(env.ctx, [{ ...post(served.hold.id), unrecorded: toHoldTerms(served.hold) }]);
    expect(await availabilityOf(env.ctx, f.accountId)).toEqual({ redis: 9_760n, postgres: 9_760n });
    await expectAgreement();
  });

  it('lost alone, after another key’s counter was found missing: the balance no load rebuilt is kept', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    const other = await createKeyFixture(env.ctx, { accountId: f.accountId });
    const served = await servedUnwritten(f, 400n);
    const y = await hold(env.ctx, f.key, 50n);
    const z = await hold(env.ctx, other.key, 100n);
    await env.ctx.redis.del(dayCounter(other));
    // Its release finds that counter missing and moves the load epoch: no balance was loaded.
    await settleHolds(env.ctx, [{ holdId: z.hold.id, outcome: 'void' }]);
    await env.ctx.redis.del(env.ctx.keys.heldRecords(f.accountId));
    await settleHolds(env.ctx, [{ holdId: y.hold.id, outcome: 'void' }]);
    // Given back, not taken away (a load then would not have seen the served request's 400).
    expect(await redisValue(balance(f))).toBe(9_600n);
    await settleHolds(env.ctx, [{ ...post(served.hold.id), unrecorded: toHoldTerms(served.hold) }]);
    expect(await availabilityOf(env.ctx, f.accountId)).toEqual({ redis: 9_760n, postgres: 9_760n });
  });

  it('lost alone after the balance’s generation was: records admitted since still give back to it', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    await hold(env.ctx, f.key, 10n).then((a) =>
      settleHolds(env.ctx, [{ holdId: a.hold.id, outcome: 'void' }]),
    );
    await env.ctx.redis.del(env.ctx.keys.balanceGeneration(f.accountId)); // lost alone, the balance kept
    const served = await servedUnwritten(f, 400n);
    const y = await hold(env.ctx, f.key, 50n); // both against a generation started anew
    await env.ctx.redis.del(env.ctx.keys.heldRecords(f.accountId));
    await settleHolds(env.ctx, [{ holdId: y.hold.id, outcome: 'void' }]);
    expect(await redisValue(balance(f))).toBe(9_600n); // given back, not taken away to load blind
    await settleHolds(env.ctx, [{ ...post(served.hold.id), unrecorded: toHoldTerms(served.hold) }]);
    expect(await availabilityOf(env.ctx, f.accountId)).toEqual({ redis: 9_760n, postgres: 9_760n });
  });

  it('--fix names its records again, beside the values, and a release then gives back as usual', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    const a = await hold(env.ctx, f.key, 400n);
    const index = env.ctx.keys.heldRecords(f.accountId);
    await env.ctx.redis.del(index);
    await runReconcile(env.ctx, { fix: true });
    expect(await env.ctx.redis.smembers(index)).toEqual([a.hold.id]);
    expect(await env.ctx.redis.ttl(index)).toBeGreaterThan(3600);
    await settleHolds(env.ctx, [post(a.hold.id)]);
    expect(await redisValue(dayCounter(f))).toBe(240n); // given back, not taken away
    expect(await redisValue(balance(f))).toBe(9_760n);
    await expectAgreement();
  });

  it('--fix does not name again a settled hold’s record whose release is to come, into a value rebuilt without it', async () => {
    const { f, a } = await settledButNotReleased({ limitDaily: 500n });
    await env.ctx.redis.del(env.ctx.keys.heldRecords(f.accountId), dayCounter(f));
    await hold(env.ctx, f.key, 100n);
    await runReconcile(env.ctx, { fix: true }); // the record of a settled hold: deleted, not named
    expect(await env.ctx.redis.sismember(env.ctx.keys.heldRecords(f.accountId), a.hold.id)).toBe(0);
    await retry(a.hold.id);
    expect(await redisValue(dayCounter(f))).toBe(340n);
    await expectAgreement();
  });
});

/** Found by review (money4, money5, chaos6): reconcile's repairs, and the index, around a partial loss. */
describe('reconcile around a partial loss', () => {
  it('--fix gives back a late release’s unused part, even with another hold in flight (chaos7 F4)', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 1_500n });
    const other = await createKeyFixture(env.ctx, { accountId: f.accountId });
    const a = await hold(env.ctx, f.key, 70n);
    const slow = await slowWrite(other, 300n); // in flight: --fix holds off repairing the values
    const charge48 = { holdId: a.hold.id, outcome: 'post' as const, promptTokens: 4, completionTokens: 0 };
    await expect(settleHolds(failingOnce(env.ctx, 'releaseHolds'), [charge48])).rejects.toThrow();
    await runReconcile(env.ctx, { fix: true }); // it used to delete a's record, the 22 unused never given back
    await slow.land();
    await settleHolds(env.ctx, [post(slow.a.hold.id)]);
    await retry(a.hold.id);
    expect(await availabilityOf(env.ctx, f.accountId)).toEqual({ redis: 9_712n, postgres: 9_712n });
    await expectAgreement();
  });

  it('--fix restores a lost balance and a lost key state with the holds not written yet counted', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    const slow = await slowWrite(f, 400n);
    await env.ctx.redis.del(balance(f), env.ctx.keys.childKey(f.accountId, f.key.id));
    await runReconcile(env.ctx, { fix: true });
    expect(await redisValue(balance(f))).toBe(9_600n);
    expect(await redisValue(dayCounter(f))).toBe(400n);
    await slow.land();
    await settleHolds(env.ctx, [post(slow.a.hold.id)]);
    expect(await availabilityOf(env.ctx, f.accountId)).toEqual({ redis: 9_760n, postgres: 9_760n });
    expect(await redisValue(dayCounter(f))).toBe(240n);
    await expectAgreement();
  });

  /** H (400) open, its record lost alone, and a busy account's last (spoiled) look: put it back. */
  async function recordLostAndLookedAt() {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    const h = await hold(env.ctx, f.key, 400n);
    await env.ctx.redis.del(env.ctx.keys.hold(f.accountId, h.hold.id));
    const findings = await lookAt(f, [h.hold.id]);
    expect(findings.some((x) => x.repairs.some((r) => r.kind === 'putHold'))).toBe(true);
    return { f, h, findings };
  }

  it('puts no record back off the watched path into values rebuilt since its look', async () => {
    const { f, h, findings } = await recordLostAndLookedAt();
    // H settles (its release finds no record: tight), then Redis loses the balance and the day
    // counter and the next request reloads them from Postgres, H's charge counted.
    await settleHolds(env.ctx, [post(h.hold.id)]);
    await env.ctx.redis.del(balance(f), dayCounter(f));
    await hold(env.ctx, f.key, 100n);
    expect(await restoreHoldRecords(env.ctx, findings)).toBe(0);
    expect(await availabilityOf(env.ctx, f.accountId)).toEqual({ redis: 9_660n, postgres: 9_660n });
    expect(await redisValue(dayCounter(f))).toBe(340n);
    // The month counter was not rebuilt: it stays tight by the 160 H's release could not give back
    // (its record was lost), never loose, until the operator's --fix.
    expect(await redisValue(monthCounter(f))).toBe(500n);
    await runReconcile(env.ctx, { fix: true });
    expect(await redisValue(monthCounter(f))).toBe(340n);
    await expectAgreement();
  });

  it('still puts it back, and releases it, when nothing was rebuilt since the look', async () => {
    const { f, h, findings } = await recordLostAndLookedAt();
    await settleHolds(env.ctx, [post(h.hold.id)]); // tight by 160 until the record is back
    expect(await restoreHoldRecords(env.ctx, findings)).toBe(1);
    expect(await availabilityOf(env.ctx, f.accountId)).toEqual({ redis: 9_760n, postgres: 9_760n });
    expect(await redisValue(dayCounter(f))).toBe(240n);
  });

  it('--fix counts a record made after its scan, whose hold has no row yet, as the reservation it is', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 500n });
    await hold(env.ctx, f.key, 10n).then((a) =>
      settleHolds(env.ctx, [{ holdId: a.hold.id, outcome: 'void' }]),
    );
    // Right after reconcile's scan, a sync chat is admitted and its background write fails (a
    // Postgres blip): it is served, and its settlement writes the hold from its terms.
    let served: Awaited<ReturnType<typeof hold>> | undefined;
    const redis = new Proxy(env.ctx.redis, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        if (prop !== 'scan') return value.bind(target);
        return async (...args: unknown[]) => {
          const page = await value.apply(target, args);
          served ??= await hold(env.ctx, f.key, 400n, {
            background: true,
            write: async () => {
              throw new Error('connection reset');
            },
          });
          await served.recorded.catch(() => {});
          return page;
        };
      },
    });
    await runReconcile({ ...env.ctx, redis }, { fix: true });
    expect(await redisValue(dayCounter(f))).toBe(400n); // its reservation, kept
    await settleHolds(env.ctx, [{ ...post(served!.hold.id), unrecorded: toHoldTerms(served!.hold) }]);
    expect(await redisValue(dayCounter(f))).toBe(240n);
    expect(await outcome(hold(env.ctx, f.key, 500n))).toBe('child_key_limit');
  });

  it('prunes from the index a name whose record expired unreleased', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(env.ctx, f.key, 400n);
    const index = env.ctx.keys.heldRecords(f.accountId);
    await env.ctx.redis.del(env.ctx.keys.hold(f.accountId, a.hold.id)); // as its TTL would
    await env.ctx.redis.del(balance(f));
    const b = await hold(env.ctx, f.key, 100n); // the load reads the index
    expect((await env.ctx.redis.smembers(index)).sort()).toEqual([a.hold.id, b.hold.id].sort());
    // a's record came back with the balance (its hold is open): its name stays, rightly.
    expect(await env.ctx.redis.exists(env.ctx.keys.hold(f.accountId, a.hold.id))).toBe(1);
    await settleHolds(env.ctx, [post(a.hold.id), post(b.hold.id)]);
    await env.ctx.redis.sadd(index, 'hold_gone'); // a name left behind by an expired record
    await env.ctx.redis.del(balance(f));
    await hold(env.ctx, f.key, 10n);
    expect(await env.ctx.redis.sismember(index, 'hold_gone')).toBe(0);
  });
});
