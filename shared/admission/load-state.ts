import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { readAdmissionSnapshot } from '../db/queries/admission-state.js';
import { ApiError } from '../errors.js';
import { CREDIT_MARK_MS, loadRedisBalance } from '../ledger/credit.js';
import { countStateLoad } from '../metrics/registry.js';
import { onePer } from '../per-owner.js';
import { dayKey, isoDay, monthKey, monthResetsAt, startOfUtcMonth } from '../periods.js';
import { publishChildKeyState, publishManagementKeyState } from './key-state.js';
import { loadRpmWindow } from './rpm-window.js';

/** Counters outlive their period by a margin; a new period starts from a fresh key. */
export const DAY_COUNTER_TTL_S = 3 * 86_400;
export const MONTH_COUNTER_TTL_S = 40 * 86_400;

/**
 * Rebuild one child key's admission state in Redis from Postgres: after a Redis restart, an
 * eviction, or the first request of a key. Every write is conditional (newer version, counters not
 * yet loaded, RPM window not yet present, balance not yet present), so concurrent loaders and live
 * traffic cannot be undone by an older read; a balance loaded marks the recent credits it counts,
 * so none is added again when its own send comes later. The RPM window is rebuilt from the key's holds of the
 * last 60 s, so losing Redis grants no requests beyond the limit. Returns false when the key does
 * not exist.
 */
export async function loadAdmissionState(ctx: Context, keyId: string, at: Date): Promise<boolean> {
  const read = () =>
    readAdmissionSnapshot(
      ctx.sql,
      keyId,
      isoDay(at),
      isoDay(startOfUtcMonth(at)),
      isoDay(monthResetsAt(at)),
      new Date(at.getTime() - CREDIT_MARK_MS),
    );
  let snap = await read();
  if (!snap) return false;
  countStateLoad();
  // No balance: Redis lost the account's data (or this is its first request). Requests admitted
  // just before the loss may still be writing their holds (a sync chat's waits
  // SYNC_HOLD_WRITE_WAIT_MS to share its insert): read Postgres again once they have landed
  // (RECONCILE_INFLIGHT_MS, the gap allowed between a request's Redis step and its write), or the
  // rebuilt RPM window, counters and balance leave them out, and the key admits a second RPM
  // limit's worth in the same minute. Once one loader has put the balance back, its wait covered
  // the account's other keys too.
  if ((await ctx.redis.exists(ctx.keys.balance(snap.key.account_id))) === 0) {
    await sleep(ctx.config.RECONCILE_INFLIGHT_MS);
    snap = await read();
    if (!snap) return false;
  }
  const { key } = snap;
  await publishChildKeyState(ctx, key);
  await publishManagementKeyState(ctx, snap.mk);
  // Before the counters: their `c` flag is what lets admission use the key, so a window that does
  // not exist has not been started by an admission since Redis lost it. One that exists (a loader
  // finished first, or the key is in use) is left as it is.
  await loadRpmWindow(ctx, key, at);
  await ctx.scripts.run(
    'loadCounters',
    [
      ctx.keys.childKey(key.account_id, key.id),
      ctx.keys.day(key.account_id, key.id, dayKey(at)),
      ctx.keys.month(key.account_id, key.id, monthKey(at)),
    ],
    [snap.dayUsed.toString(), snap.monthUsed.toString(), DAY_COUNTER_TTL_S, MONTH_COUNTER_TTL_S],
  );
  await loadRedisBalance(ctx, key.account_id, snap.available, snap.creditIds);
  return true;
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
  keyId: string,
  keys: string[],
  args: (string | number)[],
  at: Date,
): Promise<KeyScriptReply> {
  let reply = (await ctx.scripts.run(name, keys, args)) as KeyScriptReply;
  for (let i = 0; reply[0] === 'load' && i < 3; i++) {
    if (!(await sharedLoad(ctx, keyId, at)))
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
 * Postgres snapshot (twice, across RECONCILE_INFLIGHT_MS) for the same result. A request that
 * joins a load begun a moment before it (at an `at` a little earlier) is no worse off: its script
 * runs again after, and answers `load` once more only if the load missed its period (a new day
 * began meanwhile), when the next round loads afresh.
 */
function sharedLoad(ctx: Context, keyId: string, at: Date): Promise<boolean> {
  const running = loadsRunning(ctx.redis);
  const joined = running.get(keyId);
  if (joined) return joined;
  const load = loadAdmissionState(ctx, keyId, at).finally(() => running.delete(keyId));
  running.set(keyId, load);
  return load;
}
