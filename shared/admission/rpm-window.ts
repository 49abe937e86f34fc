import type { Context } from '../context.js';
import type { Db } from '../db/client.js';
import { holdsCreatedIn, type RpmWindowEntry } from '../db/queries/rpm-window.js';
import type { ChildKeyState } from './key-state.js';

/** The RPM window's span: admit-7.lua drops an entry once `now − 60000` reaches its score. */
export const RPM_WINDOW_MS = 60_000;

/** The highest RPM limit a child key may be given (the create and PATCH bodies check it). */
export const RPM_LIMIT_MAX = 1_000_000;

/**
 * A key's RPM window as Postgres records it at `at`: its holds created in (at − 60 s, at], one per
 * admitted request, whatever the key's limit is now. Live, the window keeps every request admitted
 * under a limit for its 60 s, through a limit lowered or cleared meanwhile, and a limit raised or
 * set again still counts them; a window rebuilt to the limit of the moment (its newest N, or none
 * without a limit) would let that change grant them a second time. Postgres does not say which holds
 * were admitted under a limit, so those admitted without one count too: after a loss, the limit errs
 * on its own side. At most the newest RPM_LIMIT_MAX: that many fill the window at any limit a key
 * may have, and older ones leave first, so they would change no answer.
 */
export async function readRpmWindow(db: Db, keyId: string, at: Date): Promise<RpmWindowEntry[]> {
  return holdsCreatedIn(db, keyId, new Date(at.getTime() - RPM_WINDOW_MS), at, RPM_LIMIT_MAX);
}

/** Score and member pairs as admit-7.lua adds them: admission ms, hold id. */
export function windowPairs(entries: readonly RpmWindowEntry[]): (string | number)[] {
  return entries.flatMap((e) => [e.atMs, e.id]);
}

/**
 * Put back a key's RPM window after Redis lost it, so a flush or restart does not grant up to a
 * minute of requests beyond the limit. Written only where no window exists.
 */
export async function loadRpmWindow(
  ctx: Context,
  key: Pick<ChildKeyState, 'id' | 'account_id'>,
  at: Date,
): Promise<void> {
  const entries = await readRpmWindow(ctx.sql, key.id, at);
  if (entries.length === 0) return;
  await ctx.scripts.run('loadRpmWindow', [ctx.keys.rpm(key.account_id, key.id)], windowPairs(entries));
}
