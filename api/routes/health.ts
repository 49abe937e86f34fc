import { Router } from 'express';
import type { Context } from '../../shared/context.js';

export function healthRouter(ctx: Context): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  /** Ready only when both stores answer; a load balancer stops sending work otherwise. */
  r.get('/readyz', async (_req, res) => {
    const checks = await Promise.allSettled([ctx.sql`select 1`, ctx.redis.ping()]);
    const [pg, redis] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'down'));
    const ok = pg === 'ok' && redis === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', postgres: pg, redis });
  });
  return r;
}
