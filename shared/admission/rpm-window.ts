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
 * admitted request. All of them, not the newest `rate_limit_rpm`: live, the window keeps every
 * request admitted under a limit for its 60 s, through a limit lowered meanwhile, and a limit raised
 * back still counts them; a window cut to the limit of the moment would let the raise grant them a
 * second time. At most the newest RPM_LIMIT_MAX: that many fill the window at any limit a key may
 * have, and older ones leave first, so they would change no answer.
 * No limit, no window (admit-7.lua keeps none): a busy unlimited key, the common case, would
 * otherwise read a minute of its traffic on every load after a loss. The price is that a limit
 * cleared before the loss and set again within the minute starts from an empty window.
 */
export async function readRpmWindow(
  db: Db,
  key: Pick<ChildKeyState, 'id' | 'rate_limit_rpm'>,
  at: Date,
): Promise<RpmWindowEntry[]> {
  if (!key.rate_limit_rpm) return [];
  return holdsCreatedIn(db, key.id, new Date(at.getTime() - RPM_WINDOW_MS), at, RPM_LIMIT_MAX);
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
  key: Pick<ChildKeyState, 'id' | 'account_id' | 'rate_limit_rpm'>,
  at: Date,
): Promise<void> {
  const window = ctx.keys.rpm(key.account_id, key.id);
  // The requests that reach a key while its state is missing each load it: once one has put the
  // window back, the others need not read it again (the script would not write it anyway).
  if (!key.rate_limit_rpm || (await ctx.redis.exists(window)) === 1) return;
  const entries = await readRpmWindow(ctx.sql, key, at);
  if (entries.length === 0) return;
  await ctx.scripts.run('loadRpmWindow', [window], windowPairs(entries));
}
