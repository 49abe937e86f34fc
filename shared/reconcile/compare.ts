import type { Context } from '../context.js';
import { creditMarkers } from '../ledger/credit.js';
import { dayKey, monthKey } from '../periods.js';
import { compareHoldRecords, heldOff, type UnconfirmedHold, unconfirmedHolds } from './compare-holds.js';
import { compareKeys, valueRepair } from './compare-keys.js';
import type { RedisAccount } from './redis-state.js';
import type { AccountTruth } from './truth.js';
import type { Finding, Repair } from './types.js';

/**
 * Compare one account's Redis admission state with Postgres and say how to repair each difference.
 * With `restore`, state Redis lacks entirely is listed as `missing`, to be written eagerly.
 * `heldIds` are the hold records that were read: a hold opened since is not judged.
 */
export function compareAccount(
  ctx: Context,
  accountId: string,
  redis: RedisAccount,
  truth: AccountTruth,
  heldIds: Set<string>,
  at: Date,
  opts: { restore: boolean; day: string; month: string },
): Finding[] {
  // A hold Postgres has no row for yet is a real reservation: the balance, and its key's counters,
  // are judged with it counted while its record lives, not set to what Postgres alone says (that
  // would let the account spend it twice: its settlement releases through the record).
  const unconfirmed = unconfirmedHolds(redis, truth, heldIds);
  const reservedOn = reservedOnCounters(ctx, accountId, unconfirmed.holds, opts);
  const out: Finding[] = [
    ...compareHoldRecords(ctx, accountId, redis, truth, heldIds, at),
    ...compareKeys(ctx, accountId, redis, truth, { ...opts, reservedOn }),
  ];
  const balKey = ctx.keys.balance(accountId);
  if (truth.available === null) {
    if (redis.bal !== null)
      out.push({
        kind: 'drift',
        check: 'redis_balance',
        subject: balKey,
        message: 'balance of an account Postgres does not have',
        actual: redis.bal,
        repairs: [],
      });
  } else if (redis.bal === null) {
    if (opts.restore)
      out.push({
        kind: 'missing',
        check: 'redis_balance',
        subject: balKey,
        message: 'not loaded',
        // As a load (held-records.ts): what holds Postgres has no row for yet reserve stays taken.
        repairs: balanceRepairs(ctx, accountId, truth.available - unconfirmed.amount, truth.creditIds),
      });
  } else {
    // With unconfirmed holds, what Redis should show is Postgres's available less what they
    // reserve: a Redis above that is loose and is repaired down to it; one below is left alone.
    const expected = truth.available - unconfirmed.amount;
    const have = BigInt(redis.bal);
    const finding: Finding = {
      kind: 'drift',
      check: 'redis_balance',
      subject: balKey,
      message: 'available balance differs from balance − open holds',
      expected: expected.toString(),
      actual: redis.bal,
      repairs: balanceRepairs(ctx, accountId, expected, truth.creditIds),
    };
    if (have > expected) out.push(finding);
    else if (have < expected) out.push(unconfirmed.holds.length > 0 ? heldOff(finding) : finding);
  }
  return out;
}

/**
 * What the holds Postgres has no row for reserve on each of their keys' current day and month
 * counters: a hold counts on those of the day and month it was admitted in. null where some hold's
 * share is unknown (a record without its admission time or amount).
 */
function reservedOnCounters(
  ctx: Context,
  accountId: string,
  holds: UnconfirmedHold[],
  opts: { day: string; month: string },
): Map<string, bigint | null> {
  const out = new Map<string, bigint | null>();
  for (const h of holds) {
    const counters = [
      { key: ctx.keys.day(accountId, h.keyId, opts.day), period: opts.day, of: dayKey },
      { key: ctx.keys.month(accountId, h.keyId, opts.month), period: opts.month, of: monthKey },
    ];
    for (const c of counters) {
      const sum = out.has(c.key) ? out.get(c.key)! : 0n;
      if (sum === null) continue;
      if (h.admittedAt === null || h.amount === null) out.set(c.key, null);
      else out.set(c.key, c.of(h.admittedAt) === c.period ? sum + h.amount : sum);
    }
  }
  return out;
}

/**
 * Set the balance, and mark the recent credits it counts: a credit whose own send comes after the
 * repair (late, or sent again) must not be added a second time.
 */
function balanceRepairs(ctx: Context, accountId: string, available: bigint, creditIds: string[]): Repair[] {
  const markers = creditMarkers(ctx, accountId, creditIds);
  return [
    valueRepair(ctx.keys.balance(accountId), available, 0),
    ...markers.keys.map((key) => ({ kind: 'marker' as const, key, ttlS: markers.ttlS })),
  ];
}
