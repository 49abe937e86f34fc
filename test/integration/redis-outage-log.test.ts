import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createQueues, type Queues } from '../../shared/queues.js';
import { startWorkers } from '../../workers/index.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { capturedLogger } from '../helpers/logs.js';
import { redisBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const { logger, lines } = capturedLogger('debug');
let proxy: TcpProxy;
let env: TestEnv;
let queues: Queues;
let stopWorkers: () => Promise<void>;

beforeAll(async () => {
  let url: string;
  ({ proxy, url } = await redisBehindProxy(inject('redisUrl')));
  env = await createTestEnv({ env: { REDIS_URL: url }, logger });
  queues = createQueues(env.ctx);
  stopWorkers = startWorkers(env.ctx, { queues });
  await queues.get('settlement').waitUntilReady(); // a producer connection, as the api has
});
afterAll(async () => {
  await stopWorkers?.();
  await queues?.close();
  await env?.close();
  await proxy?.close();
});

const ROLES = ['commands', 'queues', 'workers'];

describe('Redis out of reach for a few seconds', () => {
  it('is one warning per connection role when it starts and one info line when it is back', async () => {
    await env.ctx.redis.ping();
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 4000)); // ioredis and BullMQ retry several times a second
    await proxy.restore();
    await waitFor('every role reconnected', () =>
      ROLES.every((role) => lines.some((l) => l.msg === 'redis reachable again' && l.connection === role)),
    );
    expect(await env.ctx.redis.ping()).toBe('PONG');

    const outage = lines.filter((l) => (l.level as number) >= 40);
    expect(outage.filter((l) => (l.level as number) >= 50)).toEqual([]);
    for (const role of ROLES) {
      expect(outage.filter((l) => l.connection === role)).toMatchObject([
        { msg: 'redis out of reach', level: 40 },
      ]);
      expect(lines.filter((l) => l.connection === role && l.msg === 'redis reachable again')).toHaveLength(1);
    }
    expect(outage).toHaveLength(ROLES.length);
  });
});
