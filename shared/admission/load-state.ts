import type { Context } from '../context.js';
import { readAdmissionSnapshot } from '../db/queries/admission-state.js';
import { openHoldsOf, openHoldsOfKey } from '../db/queries/reconcile-admission.js';
import { ApiError } from '../errors.js';
import { dayKey, isoDay, monthKey, monthResetsAt, startOfUtcMonth } from '../periods.js';
import { putBackHoldRecords } from './hold-records.js';
import { publishChildKeyState, publishManagementKeyState } from './key-state.js';
import { loadRpmWindow } from './rpm-window.js';

/** Counters outlive their period by a margin; a new period starts from a fresh key. */
export const DAY_COUNTER_TTL_S = 3 * 86_400;
export const MONTH_COUNTER_TTL_S = 40 * 86_400;

/**
 * Rebuild one child key's admission state in Redis from Postgres: after a Redis restart, an
 * eviction, or the first request of a key. Every write is conditional (newer version, counters not
 * yet loaded, RPM window not yet present, balance not yet present), so concurrent loaders and live
 * traffic cannot be undone by an older read. The RPM window is rebuilt from the key's holds of the
 * last 60 s, so losing Redis grants no requests beyond the limit; the records of the open holds
 * counted again are put back. Returns false when the key does not exist.
 */
export async function loadAdmissionState(ctx: Context, keyId: string, at: Date): Promise<boolean> {
  // One snapshot for the rebuilt values and the open holds they count (repeatable read): the holds
  // whose records are put back must be exactly those the counters and the balance include.
  const restore = await ctx.sql.begin('isolation level repeatable read read only', async (tx) => {
    const snap = await readAdmissionSnapshot(
      tx,
      keyId,
      isoDay(at),
      isoDay(startOfUtcMonth(at)),
      isoDay(monthResetsAt(at)),
    );
    if (!snap) return null;
    const { key } = snap;
    await publishChildKeyState(ctx, key);
    await publishManagementKeyState(ctx, snap.mk);
    // Before the counters: their `c` flag is what lets admission use the key, so a window that does
    // not exist has not been started by an admission since Redis lost it. One that exists (a loader
    // finished first, or the key is in use) is left as it is.
    await loadRpmWindow(ctx, key, at, tx);
    const countersLoaded = await ctx.scripts.run(
      'loadCounters',
      [
        ctx.keys.childKey(key.account_id, key.id),
        ctx.keys.day(key.account_id, key.id, dayKey(at)),
        ctx.keys.month(key.account_id, key.id, monthKey(at)),
      ],
      [snap.dayUsed.toString(), snap.monthUsed.toString(), DAY_COUNTER_TTL_S, MONTH_COUNTER_TTL_S],
    );
    const balanceLoaded = await ctx.redis.set(
      ctx.keys.balance(key.account_id),
      snap.available.toString(),
      'NX',
    );
    // Rebuilt values count open holds in full; their records (lost with Redis, if these were) let
    // their settlements give back what they did not charge. The balance counts the whole account's.
    if (balanceLoaded === 'OK') return openHoldsOf(tx, [key.account_id]);
    if (Number(countersLoaded) === 1) return openHoldsOfKey(tx, key.id);
    return [];
  });
  if (restore === null) return false;
  await putBackHoldRecords(ctx, restore, at);
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
    if (!(await loadAdmissionState(ctx, keyId, at)))
      throw new ApiError('invalid_api_key', 'Unknown API key', { code: 'key_unknown' });
    reply = (await ctx.scripts.run(name, keys, args)) as KeyScriptReply;
  }
  return reply;
}
