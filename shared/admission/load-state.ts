import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { readAdmissionSnapshot } from '../db/queries/admission-state.js';
import { ApiError } from '../errors.js';
import { CREDIT_MARK_MS, loadRedisBalance } from '../ledger/credit.js';
import { countStateLoad } from '../metrics/registry.js';
import { onePer } from '../per-owner.js';
import { dayKey, isoDay, monthKey, monthResetsAt, startOfUtcMonth } from '../periods.js';
import { loadOutcome, readLoadEpoch } from '../redis/load-epoch.js';
import { publishChildKeyState, publishManagementKeyState } from './key-state.js';
import { loadRpmWindow } from './rpm-window.js';

/** Counters outlive their period by a margin; a new period starts from a fresh key. */
export const DAY_COUNTER_TTL_S = 3 * 86_400;
export const MONTH_COUNTER_TTL_S = 40 * 86_400;

/**
 * Rebuild one child key's admission state in Redis from Postgres: after a Redis restart, an
 * eviction, the first request of a key, or its first of a UTC day (`c` names the day its
 * counters were loaded for; admit-7.lua). Every write is conditional (newer version, counters not
 * yet loaded, RPM window not yet present, balance not yet present), so concurrent loaders and live
 * traffic cannot be undone by an older read; a balance loaded marks the recent credits it counts,
 * so none is added again when its own send comes later. The RPM window is rebuilt from the key's holds of the
 * last 60 s, so losing Redis grants no requests beyond the limit. Returns false when the key does
 * not exist.
 */
export async function loadAdmissionState(ctx: Context, key: LoadKey, at: Date): Promise<boolean> {
  const today = dayKey(at);
  const [balance, loadedDay, counters] = await Promise.all([
    ctx.redis.exists(ctx.keys.balance(key.account_id)),
    ctx.redis.hget(ctx.keys.childKey(key.account_id, key.id), 'c'),
    ctx.redis.exists(
      ctx.keys.day(key.account_id, key.id, today),
      ctx.keys.month(key.account_id, key.id, monthKey(at)),
    ),
  ]);
  const balanceMissing = balance === 0;
  // A counter is missing that admissions may have counted in: the key was loaded for this day (or,
  // across midnight, a later one), or Redis lost its state too (no `c`; a new key pays the wait
  // once). A key last loaded for an earlier day has had no admission counted for this one.
  const countersLost = counters < 2 && (loadedDay === null || loadedDay >= today);
  const read = () =>
    readAdmissionSnapshot(ctx.sql, key.id, {
      day: isoDay(at),
      monthStart: isoDay(startOfUtcMonth(at)),
      monthEnd: isoDay(monthResetsAt(at)),
      creditsSince: new Date(at.getTime() - CREDIT_MARK_MS),
      // The open holds' records go only with a balance this load writes (load-balance-n.lua); an
      // account may have tens of thousands, not to be read at every key's first request of a day.
      withOpenHolds: balanceMissing,
    });
  // Redis lost what admissions of the moment count in: the balance (the account's data lost, or its
  // first request), or a counter (above). Requests admitted just before may still be writing their
  // holds (a sync chat's waits SYNC_HOLD_WRITE_WAIT_MS to share its insert): read Postgres once
  // they have landed (RECONCILE_INFLIGHT_MS, the gap allowed between a request's Redis step and its
  // write), or the rebuilt RPM window, counters and balance leave them out, and the key admits a
  // second limit's worth. Once one loader has put the balance back, its wait covered the account's
  // other keys too.
  if (balanceMissing || countersLost) await sleep(ctx.config.RECONCILE_INFLIGHT_MS);
  // The counters and the balance are written only if no credit or release found them missing
  // since the epoch was read, before the read they come from: one that committed after the read
  // and reached Redis before the write would be in neither. Then Postgres is read again.
  for (let attempt = 1; ; attempt++) {
    const epoch = await readLoadEpoch(ctx, key.account_id);
    const snap = await read();
    if (!snap) return false;
    if (attempt === 1) countStateLoad();
    if (await writeAdmissionState(ctx, snap, at, epoch)) return true;
    if (attempt === LOAD_ATTEMPTS) {
      // Under a stream of releases to an account Redis lost, every read may miss one: the state
      // is left out, and the request's script asks for a load again (runWithKeyState).
      ctx.logger.warn(
        { keyId: key.id, accountId: key.account_id },
        'admission state changed under every load',
      );
      return true;
    }
  }
}

/** A child key as its load needs it: its account's load epoch is read before Postgres is. */
type LoadKey = { id: string; account_id: string };

/** How often a load reads Postgres again when its read went stale before its write. */
const LOAD_ATTEMPTS = 5;

/**
 * Write a snapshot's key state, RPM window, counters and balance into Redis, each only where Redis
 * has none. False when the counters or the balance were refused as stale (the epoch moved since
 * `epoch`): nothing else it wrote can undo newer data, and the caller reads again.
 */
async function writeAdmissionState(
  ctx: Context,
  snap: NonNullable<Awaited<ReturnType<typeof readAdmissionSnapshot>>>,
  at: Date,
  epoch: string,
): Promise<boolean> {
  const { key } = snap;
  await publishChildKeyState(ctx, key);
  await publishManagementKeyState(ctx, snap.mk);
  // Before the counters: their `c` flag is what lets admission use the key, so a window that does
  // not exist has not been started by an admission since Redis lost it. One that exists (a loader
  // finished first, or the key is in use) is left as it is.
  await loadRpmWindow(ctx, key, at);
  const counters = await ctx.scripts.run(
    'loadCounters',
    [
      ctx.keys.childKey(key.account_id, key.id),
      ctx.keys.day(key.account_id, key.id, dayKey(at)),
      ctx.keys.month(key.account_id, key.id, monthKey(at)),
      ctx.keys.loadEpoch(key.account_id),
    ],
    [
      snap.dayUsed.toString(),
      snap.monthUsed.toString(),
      DAY_COUNTER_TTL_S,
      MONTH_COUNTER_TTL_S,
      epoch,
      dayKey(at),
    ],
  );
  if (loadOutcome(counters) === 'stale') return false;
  const balance = await loadRedisBalance(
    ctx,
    key.account_id,
    snap.available,
    snap.creditIds,
    epoch,
    snap.openHolds,
  );
  return balance !== 'stale';
}

/** A reply of the admission scripts: a status first (`load` when Redis lacks the key's state). */
export type KeyScriptReply = [string, ...(string | number)[]];

/**
 * Run admission's script (or key-access's) for a child key; when Redis lost (or never had) the
 * key's state, rebuild it from Postgres and ask again. An unknown key is a 401.
 */
export async function runWithKeyState(
  ctx: Context,
  name: 'admit' | 'keyAccess',
  key: LoadKey,
  keys: string[],
  args: (string | number)[],
  at: Date,
): Promise<KeyScriptReply> {
  let reply = (await ctx.scripts.run(name, keys, args)) as KeyScriptReply;
  for (let i = 0; reply[0] === 'load' && i < 3; i++) {
    if (!(await sharedLoad(ctx, key, at)))
      throw new ApiError('invalid_api_key', 'Unknown API key', { code: 'key_unknown' });
    reply = (await ctx.scripts.run(name, keys, args)) as KeyScriptReply;
  }
  return reply;
}

/** The loads running in this process, per Redis connection (one per context) and child key. */
const loadsRunning = onePer((_redis: Context['redis']) => new Map<string, Promise<boolean>>());

/**
 * loadAdmissionState, shared by the requests of one key that find its state missing while a load
 * of it runs: after a Redis loss a busy key's requests all do, and each would otherwise read the
 * Postgres snapshot (after RECONCILE_INFLIGHT_MS) for the same result. A request that
 * joins a load begun a moment before it (at an `at` a little earlier) is no worse off: its script
 * runs again after, and answers `load` once more only if the load missed its period (a new day
 * began meanwhile), when the next round loads afresh.
 */
function sharedLoad(ctx: Context, key: LoadKey, at: Date): Promise<boolean> {
  const running = loadsRunning(ctx.redis);
  const joined = running.get(key.id);
  if (joined) return joined;
  const load = loadAdmissionState(ctx, key, at).finally(() => running.delete(key.id));
  running.set(key.id, load);
  return load;
}
