import type { ChainableCommander } from 'ioredis';
import type { Context } from '../context.js';
import type { Db } from '../db/client.js';
import { holdsCreatedIn, type RpmWindowEntry } from '../db/queries/rpm-window.js';
import { drainHoldWriter } from './hold-writer.js';
import type { ChildKeyState } from './key-state.js';

/** The RPM window's span: admit-9.lua drops an entry once `now − 60000` reaches its score. */
export const RPM_WINDOW_MS = 60_000;

/** The highest RPM limit a child key may be given (the create and PATCH bodies check it). */
export const RPM_LIMIT_MAX = 1_000_000;

/**
 * A key's RPM window as Postgres records it at `at`: its holds created in (at − 60 s, at], one per
 * admitted request. Live, the window keeps every request admitted under a limit for its 60 s,
 * through a limit lowered or cleared meanwhile, and a limit raised or set again still counts them;
 * a window rebuilt to the limit of the moment (its newest N, or none without a limit) would let
 * that change grant them a second time. So a key with a limit gets all of them (at most the newest
 * RPM_LIMIT_MAX: that many fill the window at any limit a key may have, and older ones leave
 * first), and a key without one those up to its limit's clearing, if that was within the minute.
 * A key that has had no limit for a minute, the common busy case, reads none (admission keeps no
 * window for it). Postgres does not say which holds were admitted under a limit, so any admitted
 * without one in between count too: after a loss, the limit errs on its own side.
 */
export async function readRpmWindow(db: Db, key: RpmWindowKey, at: Date): Promise<RpmWindowEntry[]> {
  const after = new Date(at.getTime() - RPM_WINDOW_MS);
  if (key.rate_limit_rpm) return holdsCreatedIn(db, key.id, after, at, RPM_LIMIT_MAX);
  const cleared = key.rpm_limit_cleared_at;
  if (!cleared || cleared <= after) return [];
  return holdsCreatedIn(db, key.id, after, cleared < at ? cleared : at, RPM_LIMIT_MAX);
}

/** What the window's rebuild needs of a key, as the load and the reconciliation read it. */
export type RpmWindowKey = Pick<ChildKeyState, 'id' | 'rate_limit_rpm'> & {
  rpm_limit_cleared_at: Date | null;
};

/** Score and member pairs as admit-9.lua adds them: admission ms, hold id. */
function windowPairs(entries: readonly RpmWindowEntry[]): (string | number)[] {
  return entries.flatMap((e) => [e.atMs, e.id]);
}

/** Queue a window's entries on a MULTI, in slices (a window may hold up to RPM_LIMIT_MAX entries). */
export function queueWindowEntries(
  multi: ChainableCommander,
  window: string,
  entries: RpmWindowEntry[],
): void {
  for (let i = 0; i < entries.length; i += 1000)
    multi.zadd(window, ...windowPairs(entries.slice(i, i + 1000)));
  multi.pexpire(window, RPM_WINDOW_MS);
}

/**
 * A limit set on a key that had none (never, or cleared): admission kept no window while it had
 * none, so the window gets the key's requests of the last 60 s from Postgres, its newest `rpm`
 * (what decides whether it is full, and when it frees). Added to what the window holds (requests
 * admitted under the new limit since it was published, or under the old one before it was
 * cleared), never in place of it: members are hold ids, so none counts twice. The sync holds this
 * process still has to write are written first; one admitted by another api process in the last
 * few milliseconds may be missed. Best effort: a failure is logged, the change stands.
 */
export async function countRequestsBeforeLimit(
  ctx: Context,
  before: Pick<ChildKeyState, 'rate_limit_rpm'>,
  after: Pick<ChildKeyState, 'id' | 'account_id' | 'rate_limit_rpm'>,
  at: Date,
): Promise<void> {
  const rpm = after.rate_limit_rpm;
  if (before.rate_limit_rpm !== null || rpm === null) return;
  try {
    await drainHoldWriter(ctx.sql);
    const entries = await holdsCreatedIn(ctx.sql, after.id, new Date(at.getTime() - RPM_WINDOW_MS), at, rpm);
    if (entries.length === 0) return;
    const multi = ctx.redis.multi();
    queueWindowEntries(multi, ctx.keys.rpm(after.account_id, after.id), entries);
    await multi.exec();
  } catch (err) {
    ctx.logger.warn({ err, childKeyId: after.id }, 'RPM limit set; the last minute’s requests not counted');
  }
}

/**
 * Put back a key's RPM window after Redis lost it, so a flush or restart does not grant up to a
 * minute of requests beyond the limit. Written only where no window exists.
 */
export async function loadRpmWindow(
  ctx: Context,
  key: RpmWindowKey & Pick<ChildKeyState, 'account_id'>,
  at: Date,
): Promise<void> {
  const window = ctx.keys.rpm(key.account_id, key.id);
  // The requests that reach a key while its state is missing each load it: once one has put the
  // window back, the others need not read it again (the script would not write it anyway).
  if ((await ctx.redis.exists(window)) === 1) return;
  const entries = await readRpmWindow(ctx.sql, key, at);
  if (entries.length === 0) return;
  await ctx.scripts.run('loadRpmWindow', [window], windowPairs(entries));
}
