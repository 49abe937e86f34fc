import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { type AdmissionSnapshot, readAdmissionSnapshot } from '../db/queries/admission-state.js';
import { CREDIT_MARK_MS, loadRedisBalance } from '../ledger/credit.js';
import { countStateLoad } from '../metrics/registry.js';
import { onePer } from '../per-owner.js';
import { dayKey, isoDay, monthKey, monthResetsAt, startOfUtcMonth } from '../periods.js';
import { loadOutcome, readLoadEpoch } from '../redis/load-epoch.js';
import { type HeldSorted, NOTHING_HELD, readHeldRecords, sortHeld } from './held-records.js';
import { publishChildKeyState, publishManagementKeyState } from './key-state.js';
import { unknownKey } from './refusals.js';
import { loadRpmWindow } from './rpm-window.js';

/** Counters outlive their period by a margin; a new period starts from a fresh key. */
export const DAY_COUNTER_TTL_S = 3 * 86_400;
export const MONTH_COUNTER_TTL_S = 40 * 86_400;

/**
 * Rebuild one child key's admission state in Redis from Postgres: after a Redis restart, an
 * eviction, the first request of a key, or its first of a UTC day (`c` names the day its
 * counters were loaded for; admit-9.lua). Every write is conditional (newer version, counters not
 * yet loaded, RPM window not yet present, balance not yet present), so concurrent loaders and live
 * traffic cannot be undone by an older read; a balance loaded marks the recent credits it counts,
 * so none is added again when its own send comes later, and a balance or counter Redis lost is
 * rebuilt with the account's hold records in view, so none of their releases gives back twice
 * (held-records.ts). The RPM window is rebuilt from the key's holds of the last 60 s, so losing
 * Redis grants no requests beyond the limit. Returns false when the key does not exist.
 */
export async function loadAdmissionState(ctx: Context, key: LoadKey, at: Date): Promise<boolean> {
  const today = dayKey(at);
  const [balance, loadedDay, day, month] = await Promise.all([
    ctx.redis.exists(ctx.keys.balance(key.account_id)),
    ctx.redis.hget(ctx.keys.childKey(key.account_id, key.id), 'c'),
    ctx.redis.exists(ctx.keys.day(key.account_id, key.id, today)),
    ctx.redis.exists(ctx.keys.month(key.account_id, key.id, monthKey(at))),
  ]);
  const balanceMissing = balance === 0;
  // A counter is missing that admissions may have counted in: the key was loaded for this day (or,
  // across midnight, a later one), or Redis lost its state too (no `c`; a new key pays the wait
  // once). A key last loaded for an earlier day has had no admission counted for this one.
  const countersLost = day + month < 2 && (loadedDay === null || loadedDay >= today);
  // The same for its month counter: lost if the key was loaded for a day of this month.
  const monthLost = month === 0 && (loadedDay === null || loadedDay.slice(0, 6) >= today.slice(0, 6));
  // A value Redis lost is rebuilt with the account's hold records in view (held-records.ts): a
  // value not yet loaded for its period (a key's first request of a day) has none to mind.
  const recordsMatter = balanceMissing || countersLost || monthLost;
  // Only what was missing now is written: a value that goes while this load runs was not looked at
  // with the records in mind (nor waited for), and admission asks for another load of it.
  const missing = { balance: balanceMissing, day: day === 0, month: month === 0 };
  const read = (heldIds: string[]) =>
    readAdmissionSnapshot(ctx.sql, key.id, {
      day: isoDay(at),
      monthStart: isoDay(startOfUtcMonth(at)),
      monthEnd: isoDay(monthResetsAt(at)),
      creditsSince: new Date(at.getTime() - CREDIT_MARK_MS),
      // The open holds' records go only with a balance this load writes (load-balance-n.lua); an
      // account may have tens of thousands, not to be read at every key's first request of a day.
      withOpenHolds: balanceMissing,
      heldIds,
    });
  // Redis lost what admissions of the moment count in: the balance (the account's data lost, or its
  // first request), or a counter (above). Requests admitted just before may still be writing their
  // holds (a sync chat's waits SYNC_HOLD_WRITE_WAIT_MS to share its insert): read Postgres once
  // they have landed (RECONCILE_INFLIGHT_MS, the gap allowed between a request's Redis step and its
  // write), or the rebuilt RPM window leaves them out, and the key admits more than its limit in
  // the minute. (The counters and the balance count a hold not written yet through its record.)
  // Once one loader has put the balance back, its wait covered the account's other keys too.
  if (balanceMissing || countersLost) await sleep(ctx.config.RECONCILE_INFLIGHT_MS);
  // The counters and the balance are written only if no credit or release found them missing
  // since the epoch was read, before the read they come from: one that committed after the read
  // and reached Redis before the write would be in neither. Then Postgres is read again. The hold
  // records are read after the epoch too: one released since moved it.
  for (let attempt = 1; ; attempt++) {
    // With the key's counters' generation: another load's counters write since refuses this one's.
    const [epoch, generation] = await Promise.all([
      readLoadEpoch(ctx, key.account_id),
      ctx.redis.hget(ctx.keys.childKey(key.account_id, key.id), 'cg').then((g) => g ?? ''),
    ]);
    const records = recordsMatter ? await readHeldRecords(ctx, key.account_id) : [];
    const snap = await read(records.map((r) => r.id));
    if (!snap) return false;
    if (attempt === 1) countStateLoad();
    const held = recordsMatter ? sortHeld(records, snap.held, key.id, today) : NOTHING_HELD;
    if (await writeAdmissionState(ctx, snap, held, at, { epoch, generation }, missing)) return true;
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
 * Write a snapshot's key state, RPM window, and the counters and balance found `missing` into
 * Redis, each only where Redis has none (a value that was there when the load began and went since
 * is left to the next load, which minds the hold records for it), with what `held` says of the
 * hold records (counted in, or marked settled). False when
 * the counters or the balance were refused as stale (the epoch moved since `epoch`): nothing else
 * it wrote can undo newer data, and the caller reads again. The balance goes first: it writes the
 * open holds' records, and the epoch it moves turns away any other load's counters from a read
 * before those records existed (whose late releases would otherwise give back to them twice).
 */
async function writeAdmissionState(
  ctx: Context,
  snap: AdmissionSnapshot,
  held: HeldSorted,
  at: Date,
  /** The account's load epoch and the key's counters' generation, read before the snapshot. */
  read: { epoch: string; generation: string },
  missing: Readonly<{ balance: boolean; day: boolean; month: boolean }>,
): Promise<boolean> {
  const { epoch } = read;
  const { key } = snap;
  await publishChildKeyState(ctx, key);
  await publishManagementKeyState(ctx, snap.mk);
  // Before the counters: their `c` flag is what lets admission use the key, so a window that does
  // not exist has not been started by an admission since Redis lost it. One that exists (a loader
  // finished first, or the key is in use) is left as it is.
  await loadRpmWindow(ctx, key, at);
  let countersEpoch = epoch;
  if (missing.balance) {
    const balance = await loadRedisBalance(ctx, key.account_id, snap.available - held.unwritten.balance, {
      creditIds: snap.creditIds,
      epoch,
      openHolds: snap.openHolds,
      settledHolds: held.settled.balance,
    });
    if (balance.outcome === 'stale') return false;
    // Its own move of the epoch does not stale its own counters; anything after it does.
    if (balance.epoch !== null) countersEpoch = balance.epoch;
  }
  const record = (id: string) => ctx.keys.hold(key.account_id, id);
  const counters = await ctx.scripts.run(
    'loadCounters',
    [
      ctx.keys.childKey(key.account_id, key.id),
      ctx.keys.day(key.account_id, key.id, dayKey(at)),
      ctx.keys.month(key.account_id, key.id, monthKey(at)),
      ctx.keys.loadEpoch(key.account_id),
      ...held.settled.day.map(record),
      ...held.settled.month.map(record),
    ],
    [
      (snap.dayUsed + held.unwritten.day).toString(),
      (snap.monthUsed + held.unwritten.month).toString(),
      DAY_COUNTER_TTL_S,
      MONTH_COUNTER_TTL_S,
      countersEpoch,
      dayKey(at),
      held.settled.day.length,
      missing.day ? 1 : 0,
      missing.month ? 1 : 0,
      read.generation,
    ],
  );
  return loadOutcome(counters) !== 'stale';
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
    if (!(await sharedLoad(ctx, key, at))) throw unknownKey();
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
