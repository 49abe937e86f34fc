import { describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';
import { createMetricsRegistry } from '../../shared/metrics/scrape.js';
import { serveMetrics } from '../../shared/metrics/server.js';
import { createTestEnv } from '../helpers/context.js';
import { call } from '../helpers/http.js';

// The workers' and scheduler's METRICS_PORT listener when its own checks fail: the api's envelope.
describe('METRICS_PORT listener', () => {
  it('answers a readiness check that could not run with a 500 in the error envelope', async () => {
    const env = await createTestEnv();
    const port = await freePort();
    const close = await serveMetrics(createMetricsRegistry(env.ctx, {}), port, '127.0.0.1', env.ctx.logger, {
      ready: () => Promise.reject(new Error('no answer')),
    });
    try {
      expect(await call(`http://127.0.0.1:${port}`, 'GET', '/readyz')).toMatchObject({
        status: 500,
        body: { error: { type: 'internal_error', message: 'Readiness could not be checked' } },
      });
    } finally {
      await close();
      await env.close();
    }
  });
});
