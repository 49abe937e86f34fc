import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

const stack = useTestStack();

const chat = (key: string) =>
  fetch(`${stack.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: SIM_MODEL_QWQ_32B,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8,
    }),
  });

describe('Redis out of reach', () => {
  it('answers 503 with Retry-After at once, not a 500 after retries; then serves again', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    expect((await chat(c.childKey)).status).toBe(200);

    ctx.redis.disconnect(); // the api's command connection, as when Redis goes down
    try {
      const refused = await chat(c.childKey);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('2');
      expect(refused.headers.get('x-request-id')).toBeTruthy();
      expect(((await refused.json()) as any).error.type).toBe('service_unavailable');
      // A route that needs Redis only in passing (login's throttle) says the same.
      const login = await call(stack.server.url, 'POST', '/api/auth/login', {
        body: { email: 'nobody@example.com', password: 'whatever-it-is' },
      });
      expect(login.status).toBe(503);
      expect(login.body.error.type).toBe('service_unavailable');
      const ready = await call(stack.server.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ status: 'unavailable', postgres: 'ok', redis: 'down' });
      // What needs only Postgres goes on.
      expect((await call(stack.server.url, 'GET', '/api/account', { token: c.jwt })).status).toBe(200);
    } finally {
      await ctx.redis.connect();
    }
    expect((await chat(c.childKey)).status).toBe(200);
  });
});
