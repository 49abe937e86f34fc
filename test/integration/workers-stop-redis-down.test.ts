import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { reachesRedis } from '../../shared/queues.js';
import { startWorkers } from '../../workers/index.js';
import { startSettlementWorker } from '../../workers/settlement.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { redisBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let proxy: TcpProxy;
let env: TestEnv;

beforeAll(async () => {
  let url: string;
  ({ proxy, url } = await redisBehindProxy(inject('redisUrl')));
  env = await createTestEnv({ env: { REDIS_URL: url } });
});
afterAll(async () => {
  await env?.close();
  await proxy?.close();
});

describe('stopping the workers while Redis is out of reach', () => {
  it('tells a worker connected to Redis (drained on stop) from one cut off from it', async () => {
    const w = startSettlementWorker(env.ctx);
    await w.waitUntilReady();
    expect(await reachesRedis(w)).toBe(true); // a graceful close, waiting for its jobs
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 200));
    expect(await reachesRedis(w)).toBe(false);
    await w.close(true);
    await proxy.restore();
  });

  it('ends promptly instead of waiting for a Redis that does not answer', async () => {
    const stop = startWorkers(env.ctx, {});
    await new Promise((r) => setTimeout(r, 1000)); // connected and fetching
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const stopped = await Promise.race([
      stop().then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 10_000)),
    ]);
    expect(stopped).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    await proxy.restore(); // for env.close()'s clean-up of the prefix
  }, 20_000);
});
