import type { Context } from '../context.js';
import { readAdmissionSnapshot } from '../db/queries/admission-state.js';
import { dayKey, monthKey, monthResetsAt, startOfUtcMonth } from '../periods.js';
import { publishChildKeyState, publishManagementKeyState } from './key-state.js';

/** Counters outlive their period by a margin; a new period starts from a fresh key. */
export const DAY_COUNTER_TTL_S = 3 * 86_400;
export const MONTH_COUNTER_TTL_S = 40 * 86_400;

const iso = (d: Date) => d.toISOString().slice(0, 10);

/**
 * Rebuild one child key's admission state in Redis from Postgres: after a Redis restart, an
 * eviction, or the first request of a key. Every write is conditional (newer version, counters not
 * yet loaded, balance not yet present), so concurrent loaders and live traffic cannot be undone by
 * an older read. Returns false when the key does not exist.
 */
export async function loadAdmissionState(ctx: Context, keyId: string, at: Date): Promise<boolean> {
  const snap = await readAdmissionSnapshot(
    ctx.sql,
    keyId,
    iso(at),
    iso(startOfUtcMonth(at)),
    iso(monthResetsAt(at)),
  );
  if (!snap) return false;
  const { key } = snap;
  await publishChildKeyState(ctx, key);
  await publishManagementKeyState(ctx, snap.mk);
  await ctx.scripts.run(
    'loadCounters',
    [
      ctx.keys.childKey(key.account_id, key.id),
      ctx.keys.day(key.account_id, key.id, dayKey(at)),
      ctx.keys.month(key.account_id, key.id, monthKey(at)),
    ],
    [snap.dayUsed.toString(), snap.monthUsed.toString(), DAY_COUNTER_TTL_S, MONTH_COUNTER_TTL_S],
  );
  await ctx.redis.set(ctx.keys.balance(key.account_id), snap.available.toString(), 'NX');
  return true;
}
