import type { Context } from '../context.js';
import { compareHoldRecords } from './compare-holds.js';
import { compareKeys, counterRepair } from './compare-keys.js';
import type { RedisAccount } from './redis-state.js';
import type { AccountTruth } from './truth.js';
import type { Finding } from './types.js';

/**
 * Compare one account's Redis admission state with Postgres and say how to repair each difference.
 * Findings come in the order their repairs must apply: hold records first (so a release racing a
 * fix finds its record), then key state and counters, the balance last. With `restore`, state Redis
 * lacks entirely is listed as `missing`, to be written eagerly.
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
  const out: Finding[] = [
    ...compareHoldRecords(ctx, accountId, redis, truth, heldIds, at),
    ...compareKeys(ctx, accountId, redis, truth, opts),
  ];
  const value = counterRepair;
  const balKey = ctx.keys.balance(accountId);
  if (truth.available === null) {
    if (redis.bal !== null)
      out.push({
        kind: 'drift',
        check: 'redis_balance',
        subject: balKey,
        message: 'balance of an account Postgres does not have',
        actual: redis.bal,
        delta: 'unknown',
        repairs: [],
      });
  } else if (redis.bal === null) {
    if (opts.restore)
      out.push({
        kind: 'missing',
        check: 'redis_balance',
        subject: balKey,
        message: 'not loaded',
        delta: 'absent',
        repairs: [value(balKey, null, truth.available, 0)],
      });
  } else if (BigInt(redis.bal) !== truth.available) {
    out.push({
      kind: 'drift',
      check: 'redis_balance',
      subject: balKey,
      message: 'available balance differs from balance − open holds',
      expected: truth.available.toString(),
      actual: redis.bal,
      delta: (truth.available - BigInt(redis.bal)).toString(),
      repairs: [value(balKey, redis.bal, truth.available, 0)],
    });
  }
  return out;
}
