import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import { createMetricsRegistry, type ScrapeDeps } from '../../shared/metrics/scrape.js';
import { metricsAccess, metricsTokenRequired } from '../../shared/metrics/server.js';
import { registry } from '../openapi.js';
import { errorResponses } from '../schemas/common.js';

/** GET /metrics: Prometheus text format (API.md "Operations"). */
export function metricsRouter(ctx: Context, deps: ScrapeDeps): Router {
  const registry = createMetricsRegistry(ctx, deps);
  const allowed = metricsAccess(ctx.config.METRICS_TOKEN);
  const r = Router();
  r.get('/', async (req, res) => {
    if (!allowed(req)) throw metricsTokenRequired();
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
  description: 'Open unless METRICS_TOKEN is set; then only its bearer is answered.',
  responses: {
    200: { description: 'Metrics', content: { 'text/plain': { schema: z.string() } } },
    ...errorResponses(401),
  },
});
