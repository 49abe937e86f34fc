import type { Context } from '../context.js';
import type { Redis } from '../redis/client.js';
import type { AdmissionKeys } from '../redis/keys.js';

/** The ids of one account's admission state found in Redis. */
export interface AccountIds {
  keys: Set<string>;
  mks: Set<string>;
  holds: Set<string>;
}

export function emptyIds(): AccountIds {
  return { keys: new Set(), mks: new Set(), holds: new Set() };
}

/**
 * Every account with admission state in Redis and which keys, management keys and hold records it
 * has, from one SCAN over `{a:*}` keys (never KEYS: it would block Redis). Rate windows (`r:`) are
 * not compared (they only ever hold the last 60 s); --fix rebuilds one with its key's state.
 */
export async function scanAdmissionState(ctx: Context): Promise<Map<string, AccountIds>> {
  const prefix = ctx.config.REDIS_PREFIX;
  const shape = new RegExp(`^${prefix}:\\{a:([^}]+)\\}:(bal|k|mk|d|m|h|r)(?::([^:]+))?`);
  const accounts = new Map<string, AccountIds>();
  let cursor = '0';
  do {
    const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', ctx.keys.pattern(), 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const m = shape.exec(k);
      if (!m) continue;
      const [, account, type, id] = m;
      const ids = accounts.get(account!) ?? emptyIds();
      accounts.set(account!, ids);
      if (!id) continue;
      if (type === 'k' || type === 'd' || type === 'm') ids.keys.add(id);
      else if (type === 'mk') ids.mks.add(id);
      else if (type === 'h') ids.holds.add(id);
    }
  } while (cursor !== '0');
  return accounts;
}

export interface RedisKeyState {
  /** The state hash; empty when absent. */
  hash: Record<string, string>;
  day: string | null;
  month: string | null;
  /** Whether its RPM window exists (restored with the state only where it does not). */
  rpmWindow: boolean;
}

export interface RedisAccount {
  bal: string | null;
  /** The account's load epoch (keys.loadEpoch), null for none. */
  epoch: string | null;
  keys: Map<string, RedisKeyState>;
  mks: Map<string, Record<string, string>>;
  holds: Map<string, Record<string, string>>;
  /** The ids its index of hold records names (keys.heldRecords). */
  indexed: Set<string>;
}

/** Read one account's admission values for the current day and month (`YYYYMMDD`, `YYYYMM`). */
export async function readRedisAccount(
  redis: Redis,
  names: AdmissionKeys,
  accountId: string,
  ids: AccountIds,
  period: { day: string; month: string },
): Promise<RedisAccount> {
  const keyIds = [...ids.keys];
  const mkIds = [...ids.mks];
  const holdIds = [...ids.holds];
  const [bal, epoch, indexed, keyStates, mks, holds] = await Promise.all([
    redis.get(names.balance(accountId)),
    redis.get(names.loadEpoch(accountId)),
    redis.smembers(names.heldRecords(accountId)),
    Promise.all(
      keyIds.map(async (id) => {
        const [hash, day, month, rpm] = await Promise.all([
          redis.hgetall(names.childKey(accountId, id)),
          redis.get(names.day(accountId, id, period.day)),
          redis.get(names.month(accountId, id, period.month)),
          redis.exists(names.rpm(accountId, id)),
        ]);
        return [id, { hash, day, month, rpmWindow: rpm === 1 }] as const;
      }),
    ),
    Promise.all(
      mkIds.map(async (id) => [id, await redis.hgetall(names.managementKey(accountId, id))] as const),
    ),
    Promise.all(holdIds.map(async (id) => [id, await redis.hgetall(names.hold(accountId, id))] as const)),
  ]);
  return {
    bal,
    epoch,
    keys: new Map(keyStates),
    mks: new Map(mks),
    holds: new Map(holds.filter(([, h]) => Object.keys(h).length > 0)),
    indexed: new Set(indexed),
  };
}
