import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { capturedLogger } from '../helpers/logs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const { logger, lines } = capturedLogger('debug');
const stack = useTestStack({ workers: false, logger });

/** The lines a request wrote, found by its request id wherever a line carries it. */
const linesOf = (requestId: string) =>
  lines.filter((l) => l.requestId === requestId || (l.req as { id?: string } | undefined)?.id === requestId);

/** What an operator greps for: one error line, with the stack and the request id. */
async function expectOneErrorLine(requestId: string): Promise<void> {
  await waitFor('its access line', async () => linesOf(requestId).some((l) => l.res !== undefined));
  const errors = linesOf(requestId).filter((l) => (l.level as number) >= 50);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({
    requestId,
    err: { stack: expect.stringContaining('does not exist') },
    res: { statusCode: 500 },
  });
}

const jobBody = { request: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }] } };

// A table gone (this test's own database) stands for any bug: a Postgres error no code maps.
describe('a request that fails with a 500', () => {
  it.each([
    { path: 'the Express path', table: 'webhook_endpoints', method: 'GET', url: '/api/webhooks', as: 'jwt' },
    {
      path: 'the fast /v1 path',
      table: 'jobs',
      method: 'POST',
      url: '/v1/jobs',
      as: 'childKey',
      body: jobBody,
    },
  ] as const)('is one error line with the stack and the request id, on $path', async (t) => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    const requestId = `500-${t.table}`;
    await ctx.sql.unsafe(`alter table ${t.table} rename to ${t.table}_gone`);
    try {
      const res = await call(stack.server.url, t.method, t.url, {
        token: c[t.as],
        headers: { 'x-request-id': requestId },
        ...('body' in t ? { body: t.body } : {}),
      });
      expect(res.status).toBe(500);
      await expectOneErrorLine(requestId);
    } finally {
      await ctx.sql.unsafe(`alter table ${t.table}_gone rename to ${t.table}`);
    }
  });
});

describe('a /v1 refusal', () => {
  it('names the child key and account on its access line, on the fast path and Express alike', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url, { child: { limit_daily_ngonka: '0' } });
    const chat = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }] };
    const asks = [
      ['POST', '/v1/chat/completions', chat, 402],
      ['GET', '/v1/jobs/job_doesnotexist0000', undefined, 404],
    ] as const;
    for (const [method, url, body, status] of asks) {
      const requestId = `refused-${status}`;
      const res = await call(stack.server.url, method, url, {
        token: c.childKey,
        headers: { 'x-request-id': requestId },
        ...(body ? { body } : {}),
      });
      expect(res.status).toBe(status);
      await waitFor('its access line', async () => linesOf(requestId).some((l) => l.res !== undefined));
      expect(linesOf(requestId).find((l) => l.res !== undefined)).toMatchObject({
        keyId: c.childId,
        accountId: c.accountId,
        res: { statusCode: status },
      });
      expect(JSON.stringify(linesOf(requestId))).not.toContain(c.childKey);
    }
  });
});

describe('a 503 the gateway meant', () => {
  it('is one warn line naming why, without a stack, while Redis is out of reach', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    ctx.redis.disconnect();
    try {
      // A readiness probe's 503 is at debug: the probe asks every few seconds through an outage.
      for (const [requestId, method, url, token, level] of [
        ['503-chat', 'POST', '/v1/chat/completions', c.childKey, 40],
        ['503-ready', 'GET', '/readyz', undefined, 20],
      ] as const) {
        const res = await call(stack.server.url, method, url, {
          token,
          headers: { 'x-request-id': requestId },
          ...(method === 'POST' ? { body: jobBody.request } : {}),
        });
        expect(res.status).toBe(503);
        await waitFor('its access line', async () => linesOf(requestId).some((l) => l.res !== undefined));
        const own = linesOf(requestId);
        expect(own.filter((l) => (l.level as number) >= 50)).toEqual([]);
        const [line] = own.filter((l) => l.res !== undefined);
        expect(line).toMatchObject({ level, res: { statusCode: 503 } });
        expect(JSON.stringify(line)).not.toContain('"stack"');
      }
    } finally {
      await ctx.redis.connect();
    }
  });
});

describe('a stream that runs past the slow-answer mark', () => {
  it('is not logged as slow: its time is its generation', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const requestId = 'long-stream';
    const res = await fetch(`${stack.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${c.childKey}`,
        'content-type': 'application/json',
        'x-request-id': requestId,
      },
      body: JSON.stringify({
        ...jobBody.request,
        stream: true,
        max_tokens: 8,
        messages: [{ role: 'user', content: 'hi [[sim latency=2200]]' }],
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await waitFor('its access line', async () => linesOf(requestId).some((l) => l.res !== undefined));
    const [line] = linesOf(requestId).filter((l) => l.res !== undefined);
    expect(line).toMatchObject({ level: 20, res: { statusCode: 200 } });
    expect(line?.responseTime as number).toBeGreaterThanOrEqual(2000);
  });
});
