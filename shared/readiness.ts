import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from './context.js';
import { redisOutOfReach } from './redis/client.js';

/** A store that has not answered in this long counts as down (a probe must answer promptly). */
const CHECK_TIMEOUT_MS = 1000;

export interface Readiness {
  status: 'ok' | 'unavailable';
  postgres: 'ok' | 'down';
  redis: 'ok' | 'down';
}

async function answers(check: () => Promise<unknown>): Promise<'ok' | 'down'> {
  const timedOut = sleep(CHECK_TIMEOUT_MS, 'down' as const, { ref: false });
  try {
    return await Promise.race([check().then(() => 'ok' as const), timedOut]);
  } catch {
    return 'down';
  }
}

/**
 * Whether this process can work: both stores answer, each within a second. The api's /readyz and
 * the workers' and scheduler's METRICS_PORT /readyz answer with it.
 */
export async function readiness(ctx: Pick<Context, 'sql' | 'redis'>): Promise<Readiness> {
  const [postgres, redis] = await Promise.all([
    answers(() => ctx.sql`select 1`),
    // Not connected is down now, not after ioredis's reconnection retries.
    answers(() =>
      redisOutOfReach(ctx.redis) ? Promise.reject(new Error('out of reach')) : ctx.redis.ping(),
    ),
  ]);
  return { status: postgres === 'ok' && redis === 'ok' ? 'ok' : 'unavailable', postgres, redis };
}
