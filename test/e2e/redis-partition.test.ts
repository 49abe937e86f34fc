import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { redisBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Redis stops answering but keeps the connection open (a network partition, a frozen host): the
 * connection still reads as up, so nothing short of a command timeout ends a request's wait. Each
 * request gets the 503 a Redis outage gets, with Retry-After, rather than hanging until its client
 * gives up; once Redis answers again requests are served.
 */
let proxy: TcpProxy;
let stack: TestStack;

beforeAll(async () => {
  let url: string;
  ({ proxy, url } = await redisBehindProxy(inject('redisUrl')));
  stack = await startTestStack({ env: { REDIS_URL: url, REDIS_COMMAND_TIMEOUT_MS: '500' } });
});
afterAll(async () => {
  proxy?.thaw();
  await stack?.close();
  await proxy?.close();
});

const chat = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };

describe('Redis silent on an open connection', () => {
  it('answers 503 service_unavailable with Retry-After, and serves again once Redis answers', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const ask = (path: string, body?: unknown) =>
      call(stack.server.url, body ? 'POST' : 'GET', path, { token: c.childKey, ...(body ? { body } : {}) });
    expect((await ask('/v1/chat/completions', chat)).status).toBe(200);

    proxy.freeze();
    for (const [path, body] of [['/v1/chat/completions', chat], ['/v1/models']] as const) {
      const res = await ask(path, body);
      expect(res.status, path).toBe(503);
      expect(res.body).toMatchObject({ error: { type: 'service_unavailable' } });
      expect(res.headers.get('retry-after')).toBe('2');
    }
    proxy.thaw();
    expect((await ask('/v1/chat/completions', chat)).status).toBe(200);
  });
});
