import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from '../../shared/context.js';
import { createMetricsRegistry } from '../../shared/metrics/scrape.js';
import { createQueues } from '../../shared/queues.js';
import { createRedis } from '../../shared/redis/client.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';

// /metrics through a store that does not answer: the series read from it are not read (a scrape
// must not hang on it), and gateway_store_up says which store it was, for an alert to fire on.
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('GET /metrics while a store does not answer', () => {
  it('says both stores are up while they answer', async () => {
    const text = await createMetricsRegistry(env.ctx, {}).metrics();
    expect(sample(text, 'gateway_store_up', 'store="postgres"')).toBe(1);
    expect(sample(text, 'gateway_store_up', 'store="redis"')).toBe(1);
  });

  it('serves the other series when the queues’ Redis is out of reach, rather than hanging', async () => {
    const { ctx } = env;
    // ioredis keeps retrying a port nothing listens on; BullMQ's commands wait for it.
    const unreachable = { ...ctx, config: { ...ctx.config, REDIS_URL: 'redis://127.0.0.1:1' } };
    const queues = createQueues(unreachable);
    try {
      const text = await createMetricsRegistry(ctx, { queues }).metrics();
      expect(text).toContain('gateway_async_jobs');
      expect(text).not.toMatch(/^gateway_queue_jobs\{/m);
    } finally {
      void queues.close(); // it may wait for a connection that never comes
    }
  });

  it('says Redis is down, Postgres up, when Redis is out of reach', async () => {
    const redis = createRedis('redis://127.0.0.1:1');
    redis.on('error', () => {}); // refused connections, expected here
    const cutOff: Context = { ...env.ctx, redis };
    try {
      const text = await createMetricsRegistry(cutOff, {}).metrics();
      expect(sample(text, 'gateway_store_up', 'store="redis"')).toBe(0);
      expect(sample(text, 'gateway_store_up', 'store="postgres"')).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});
