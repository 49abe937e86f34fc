import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import { createMetricsRegistry, type ScrapeDeps } from '../../shared/metrics/scrape.js';
import { registry } from '../openapi.js';

/** GET /metrics: Prometheus text format (API.md "Operations"). */
export function metricsRouter(ctx: Context, deps: ScrapeDeps): Router {
  const registry = createMetricsRegistry(ctx, deps);
  const r = Router();
  r.get('/', async (_req, res) => {
    res.setHeader('content-type', registry.contentType);
    res.send(await registry.metrics());
  });
  return r;
}

registry.registerPath({
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics (text exposition format)',
  security: [],
  responses: { 200: { description: 'Metrics', content: { 'text/plain': { schema: z.string() } } } },
});
