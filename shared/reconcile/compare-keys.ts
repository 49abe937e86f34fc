import { childKeyStateFields } from '../admission/key-state.js';
import { DAY_COUNTER_TTL_S, MONTH_COUNTER_TTL_S } from '../admission/load-state.js';
import type { Context } from '../context.js';
import { heldOff } from './compare-holds.js';
import type { RedisAccount } from './redis-state.js';
import type { AccountTruth } from './truth.js';
import type { Finding, Repair } from './types.js';

const pairs = (o: Record<string, string>) => Object.entries(o).flat();

/** The secret fields of childKeyStateFields (key-checks.lua). */
const SECRET_FIELDS = new Set(['h', 'ph', 'phx']);

export const valueRepair = (key: string, v: bigint, ttlS: number): Repair => ({
  kind: 'value',
  key,
  value: v.toString(),
  ttlS,
});

/**
 * Child and management key state hashes and the current day and month counters against Postgres.
 * Counters are judged only where the key's hash says they are loaded for the day (`c`): otherwise
 * admission loads them from Postgres before using them.
 */
export function compareKeys(
  ctx: Context,
  accountId: string,
  redis: RedisAccount,
  truth: AccountTruth,
  opts: {
    restore: boolean;
    day: string;
    month: string;
    /**
     * What holds Postgres has no row for reserve on a counter, by its key (compare.ts): counted in
     * what it should read, and only a counter below that is repaired (tighter, never looser: their
     * settlement or release takes it off again); null where that is not all known, when the
     * counter is judged against Postgres alone and left alone.
     */
    reservedOn?: ReadonlyMap<string, bigint | null>;
  },
): Finding[] {
  const out: Finding[] = [];
  const { keys } = ctx;
  for (const [id, rk] of redis.keys) {
    const t = truth.keys.get(id);
    const hashKey = keys.childKey(accountId, id);
    const present = Object.keys(rk.hash).length > 0;
    if (!t) {
      if (present || rk.day !== null || rk.month !== null)
        out.push({
          kind: 'drift',
          check: 'redis_key_state',
          subject: hashKey,
          message: 'state of a child key this account does not have in Postgres',
          repairs: [],
        });
      continue;
    }
    const fields = childKeyStateFields(t);
    const version = t.version.toString();
    const dayKey = keys.day(accountId, id, opts.day);
    const monthKey = keys.month(accountId, id, opts.month);
    if (!present) {
      // Nothing loaded: admission would load it on the next request; --fix does it now, with the
      // RPM window where Redis has none (the state marks the key loaded, so admission will not).
      const window = rk.rpmWindow ? [] : (truth.rpmWindows.get(id) ?? []);
      const restoreWindow: Repair[] =
        window.length > 0 ? [{ kind: 'rpmWindow', key: keys.rpm(accountId, id), entries: window }] : [];
      if (opts.restore)
        out.push({
          kind: 'missing',
          check: 'redis_key_state',
          subject: hashKey,
          message: 'not loaded',
          // With what holds Postgres has no row for yet reserve on them, as a load counts them.
          repairs: [
            valueRepair(dayKey, t.day_used + (opts.reservedOn?.get(dayKey) ?? 0n), DAY_COUNTER_TTL_S),
            valueRepair(monthKey, t.month_used + (opts.reservedOn?.get(monthKey) ?? 0n), MONTH_COUNTER_TTL_S),
            ...restoreWindow,
            {
              kind: 'state',
              key: hashKey,
              fields: ['v', version, ...pairs(fields), 'c', opts.day],
            },
          ],
        });
      continue;
    }
    // A state published before keys could be rotated has no secret fields: harmless (a rotation
    // publishes them, so such a key has one secret) and not drift.
    const compared = Object.entries(fields).filter(([f]) => rk.hash.h !== undefined || !SECRET_FIELDS.has(f));
    const wrong = compared.filter(([f, v]) => rk.hash[f] !== v);
    if (rk.hash.v !== version || wrong.length > 0) {
      const loaded = rk.hash.c ? ['c', rk.hash.c] : [];
      out.push({
        kind: 'drift',
        check: 'redis_key_state',
        subject: hashKey,
        message:
          rk.hash.v !== version
            ? `key state is version ${rk.hash.v ?? 'none'}, Postgres has ${version}`
            : `key state differs at version ${version}: ${wrong.map(([f]) => f).join(', ')}`,
        expected: `v${version} ${wrong.map(([f, v]) => `${f}=${v}`).join(' ')}`.trim(),
        actual: `v${rk.hash.v ?? ''} ${wrong.map(([f]) => `${f}=${rk.hash[f] ?? ''}`).join(' ')}`.trim(),
        repairs: [
          behind(rk.hash.v, version)
            ? { kind: 'newerState', key: hashKey, version, fields: pairs(fields) }
            : { kind: 'state', key: hashKey, fields: ['v', version, ...pairs(fields), ...loaded] },
        ],
      });
    }
    // Unless `c` names the day looked at, its counters are not in use: the next admission loads
    // them from Postgres first (a key not loaded, or not yet used that day).
    if (rk.hash.c !== opts.day) continue;
    const counters = [
      { key: dayKey, raw: rk.day, want: t.day_used, ttl: DAY_COUNTER_TTL_S, what: 'day' },
      { key: monthKey, raw: rk.month, want: t.month_used, ttl: MONTH_COUNTER_TTL_S, what: 'month' },
    ];
    for (const c of counters) {
      // Gone, it is not read as 0: the next admission reloads it (admit-9.lua), as a state never
      // loaded is; --fix puts it back now.
      if (c.raw === null) {
        if (opts.restore)
          out.push({
            kind: 'missing',
            check: 'redis_counters',
            subject: c.key,
            message: 'not loaded',
            repairs: [valueRepair(c.key, c.want + (opts.reservedOn?.get(c.key) ?? 0n), c.ttl)],
          });
        continue;
      }
      const have = BigInt(c.raw);
      const reserved = opts.reservedOn?.get(c.key);
      const want = c.want + (reserved ?? 0n);
      if (have === want) continue;
      const unrecorded = typeof reserved === 'bigint' ? ' + holds Postgres has no row for' : '';
      const finding: Finding = {
        kind: 'drift',
        check: 'redis_counters',
        subject: c.key,
        message: `${c.what} counter (spent + reserved) differs from settled usage + open holds${unrecorded}`,
        expected: want.toString(),
        actual: c.raw,
        repairs: [valueRepair(c.key, want, c.ttl)],
      };
      const repairable = reserved === undefined || (reserved !== null && have < want);
      out.push(repairable ? finding : heldOff(finding));
    }
  }

  for (const [id, hash] of redis.mks) {
    const t = [...truth.keys.values()].find((k) => k.management_key_id === id);
    if (!t) continue; // no key of it in scope to compare with
    const key = keys.managementKey(accountId, id);
    const want = { v: t.mk_version.toString(), st: t.mk_status };
    if (Object.keys(hash).length === 0) {
      if (opts.restore)
        out.push({
          kind: 'missing',
          check: 'redis_key_state',
          subject: key,
          message: 'not loaded',
          repairs: [{ kind: 'state', key, fields: pairs(want) }],
        });
    } else if (hash.v !== want.v || hash.st !== want.st) {
      out.push({
        kind: 'drift',
        check: 'redis_key_state',
        subject: key,
        message: 'management key state differs from Postgres',
        expected: `v${want.v} st=${want.st}`,
        actual: `v${hash.v} st=${hash.st}`,
        repairs: [
          behind(hash.v, want.v)
            ? { kind: 'newerState', key, version: want.v, fields: ['st', want.st] }
            : { kind: 'state', key, fields: pairs(want) },
        ],
      });
    }
  }

  return out;
}

/** Redis holds an older version of a key's state than Postgres (a publish that failed). */
function behind(redisVersion: string | undefined, pgVersion: string): boolean {
  return redisVersion !== undefined && /^\d+$/.test(redisVersion) && BigInt(redisVersion) < BigInt(pgVersion);
}
