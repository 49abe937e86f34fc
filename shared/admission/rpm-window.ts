import type { Context } from '../context.js';
import type { Db } from '../db/client.js';
import { holdsCreatedIn, type RpmWindowEntry } from '../db/queries/rpm-window.js';
import type { ChildKeyState } from './key-state.js';

/** The RPM window's span: admit-7.lua drops an entry once `now − 60000` reaches its score. */
export const RPM_WINDOW_MS = 60_000;

/**
 * A key's RPM window as Postgres records it at `at`: its holds created in (at − 60 s, at], one per
 * admitted request. Only the newest `rate_limit_rpm` are read: admission asks whether the window is
 * full and when its oldest entry leaves, and anything older leaves before those do, so it would
 * change neither answer. No limit, no window (admit-7.lua keeps none).
 */
export async function readRpmWindow(
  db: Db,
  key: Pick<ChildKeyState, 'id' | 'rate_limit_rpm'>,
  at: Date,
): Promise<RpmWindowEntry[]> {
  if (!key.rate_limit_rpm) return [];
  return holdsCreatedIn(db, key.id, new Date(at.getTime() - RPM_WINDOW_MS), at, key.rate_limit_rpm);
}

/** Score and member pairs as admit-7.lua adds them: admission ms, hold id. */
export function windowPairs(entries: readonly RpmWindowEntry[]): (string | number)[] {
  return entries.flatMap((e) => [e.atMs, e.id]);
}

/**
 * Put back a key's RPM window after Redis lost it, so a flush or restart does not grant up to a
 * minute of requests beyond the limit. Written only where no window exists.
 */
export async function loadRpmWindow(ctx: Context, key: ChildKeyState, at: Date): Promise<void> {
  const entries = await readRpmWindow(ctx.sql, key, at);
  if (entries.length === 0) return;
  await ctx.scripts.run('loadRpmWindow', [ctx.keys.rpm(key.account_id, key.id)], windowPairs(entries));
}
