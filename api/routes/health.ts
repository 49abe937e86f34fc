import { setTimeout as sleep } from 'node:timers/promises';
import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import { redisOutOfReach } from '../../shared/redis/client.js';
import { registry } from '../openapi.js';
import { json } from '../schemas/common.js';

/** A store that has not answered in this long counts as down (a probe must answer promptly). */
const CHECK_TIMEOUT_MS = 1000;

async function answers(check: () => Promise<unknown>): Promise<'ok' | 'down'> {
  const timedOut = sleep(CHECK_TIMEOUT_MS, 'down' as const, { ref: false });
  try {
    return await Promise.race([check().then(() => 'ok' as const), timedOut]);
  } catch {
    return 'down';
  }
}

export function healthRouter(ctx: Context): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  /** Ready only when both stores answer; a load balancer stops sending work otherwise. */
  r.get('/readyz', async (_req, res) => {
    const [pg, redis] = await Promise.all([
      answers(() => ctx.sql`select 1`),
      // Not connected is down now, not after ioredis's reconnection retries.
      answers(() =>
        redisOutOfReach(ctx.redis) ? Promise.reject(new Error('out of reach')) : ctx.redis.ping(),
      ),
    ]);
    const ok = pg === 'ok' && redis === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', postgres: pg, redis });
  });
  return r;
}

const readiness = z.object({
  status: z.enum(['ok', 'unavailable']),
  postgres: z.enum(['ok', 'down']),
  redis: z.enum(['ok', 'down']),
});
registry.registerPath({
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness: 200 while the process is up',
  security: [],
  responses: { 200: json(z.object({ status: z.literal('ok') }), 'Up') },
});
registry.registerPath({
  method: 'get',
  path: '/readyz',
  tags: ['operations'],
  summary: 'Readiness: 200 only when Postgres and Redis answer (within a second each)',
  security: [],
  responses: { 200: json(readiness, 'Ready'), 503: json(readiness, 'A store is down') },
});
