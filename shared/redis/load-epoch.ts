import { randomInt } from 'node:crypto';
import type { Context } from '../context.js';

/**
 * An account's load epoch (keys.loadEpoch) now: read it before reading Postgres for a load, and
 * hand it to the load's write scripts, which refuse to write once it has moved (load-epoch.lua
 * moves it). One that does not exist (a new account, or Redis lost it) is started here at a random
 * number, in the same command, so that a loss between the read and the write, and as many moves
 * as it had, cannot bring it back to the value read.
 */
export async function readLoadEpoch(ctx: Context, accountId: string): Promise<string> {
  const start = String(randomInt(1, 2 ** 47));
  // SET NX GET (Redis 7): the value there before, or none when this one was set.
  return (await ctx.redis.set(ctx.keys.loadEpoch(accountId), start, 'NX', 'GET')) ?? start;
}

/** What a load's write script did: wrote, found Redis had it already, or refused (the epoch moved). */
export type LoadOutcome = 'loaded' | 'present' | 'stale';

/** A load script's reply: 1 written, 0 Redis had it already, -1 the epoch moved (read again). */
export function loadOutcome(reply: unknown): LoadOutcome {
  const n = Number(reply);
  return n === 1 ? 'loaded' : n === 0 ? 'present' : 'stale';
}
