import { randomBytes } from 'node:crypto';
import type { Context } from '../context.js';

/**
 * This process among the gateway's processes. The hold records it admits name it (admit-9.lua's
 * `by`), so reconciliation can tell the record of a process that died before writing its hold
 * (nothing will ever write it: release-orphans.ts gives it back within minutes) from one a live
 * process may still write (given back only past its deadline).
 */
export const INSTANCE_ID = randomBytes(8).toString('hex');

/** How long a process that stopped saying it is alive still counts as alive. */
export const INSTANCE_TTL_MS = 30_000;

/** Say every third of INSTANCE_TTL_MS that this process is alive; returns the stop. */
export function startInstanceHeartbeat(ctx: Context): () => void {
  const key = ctx.keys.instance(INSTANCE_ID);
  const beat = () => {
    ctx.redis.set(key, '1', 'PX', INSTANCE_TTL_MS).catch((err: unknown) => {
      // Redis out of reach: its outage is logged elsewhere; the next beat tries again.
      ctx.logger.debug({ err }, 'instance heartbeat failed');
    });
  };
  beat();
  const timer = setInterval(beat, INSTANCE_TTL_MS / 3);
  timer.unref();
  return () => clearInterval(timer);
}

/** Which of these instances are alive now (their heartbeat key is there). */
export async function liveInstances(ctx: Context, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const beats = await ctx.redis.mget(...ids.map((id) => ctx.keys.instance(id)));
  return new Set(ids.filter((_, i) => beats[i] !== null));
}

/**
 * Whether any gateway process (api or workers) is alive under this Redis prefix: a one-shot
 * command run with another prefix than the gateway's writes where admission never looks.
 */
export async function anyInstanceAlive(ctx: Context): Promise<boolean> {
  // Prefix and hash tag are escaped: a prefix may hold glob characters.
  const pattern = `${ctx.keys.instance('').replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, found] = await ctx.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (found.length > 0) return true;
    cursor = next;
  } while (cursor !== '0');
  return false;
}
