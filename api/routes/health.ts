import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import { readiness } from '../../shared/readiness.js';
import { registry } from '../openapi.js';
import { json } from '../schemas/common.js';

export function healthRouter(ctx: Context): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  /** Ready only when both stores answer; a load balancer stops sending work otherwise. */
  r.get('/readyz', async (_req, res) => {
    const ready = await readiness(ctx);
    res.status(ready.status === 'ok' ? 200 : 503).json(ready);
  });
  return r;
}

const readinessSchema = z.object({
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
  responses: { 200: json(readinessSchema, 'Ready'), 503: json(readinessSchema, 'A store is down') },
});
