import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { startBatch } from '../helpers/batches.js';
import { accountView } from '../helpers/books.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { submitJob } from '../helpers/jobs.js';
import { useTestStack } from '../helpers/stack.js';

/**
 * API.md: "An unknown, deleted, disabled or expired key is 401 invalid_api_key" on every /v1 route,
 * not only on the two that take a hold, and "every /v1 response carries x-ratelimit-*" where the key
 * has an RPM limit. The routes that take no hold check the key in Redis without counting toward RPM.
 */
const stack = useTestStack();

const REQUEST = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 };

/** A second child key under the customer's management key: a sibling that sees the same jobs. */
async function sibling(
  c: Customer,
  child: Record<string, unknown> = {},
): Promise<{ id: string; key: string }> {
  const res = await call(stack.server.url, 'POST', `/api/management/keys/${c.mkId}/children`, {
    token: c.mkKey,
    body: { name: 'Client B', ...child },
  });
  expect(res.status).toBe(201);
  return { id: res.body.id, key: res.body.key };
}

async function uploadStatus(key: string): Promise<number> {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set(
    'file',
    new Blob([
      JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: REQUEST }),
    ]),
    'in.jsonl',
  );
  const res = await fetch(`${stack.server.url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  return res.status;
}

/** The routes that take no hold, as `key` would call them on things its siblings made. */
function noHoldRoutes(jobId: string, batchId: string, fileId: string) {
  return [
    ['GET /v1/models', 'GET', '/v1/models'],
    ['GET /v1/jobs/:id', 'GET', `/v1/jobs/${jobId}`],
    ['POST /v1/jobs/:id/cancel', 'POST', `/v1/jobs/${jobId}/cancel`],
    ['GET /v1/batches', 'GET', '/v1/batches'],
    ['GET /v1/batches/:id', 'GET', `/v1/batches/${batchId}`],
    ['POST /v1/batches', 'POST', '/v1/batches'],
    ['GET /v1/files/:id', 'GET', `/v1/files/${fileId}`],
    ['GET /v1/files/:id/content', 'GET', `/v1/files/${fileId}/content`],
  ] as const;
}

describe('an inactive child key on the routes that take no hold', () => {
  it.each([
    ['disabled', 'key_disabled'],
    ['deleted', 'key_revoked'],
    ['parent revoked', 'key_revoked'],
    ['expired', 'key_expired'],
  ])('is refused with 401 when %s, while its sibling still reads', async (how, code) => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const expiresAt = new Date(Date.now() + 2000);
    const b = await sibling(c, how === 'expired' ? { expires_at: expiresAt.toISOString() } : {});
    const jobId = await submitJob(stack.server.url, c.childKey, REQUEST);
    const batchId = await startBatch(stack.server.url, c.childKey, 1);
    const batch = await call(stack.server.url, 'GET', `/v1/batches/${batchId}`, { token: c.childKey });
    const fileId = batch.body.input_file_id as string;
    // While active, key B reads what its sibling made.
    expect((await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: b.key })).status).toBe(200);

    const childPath = `/api/management/keys/${c.mkId}/children/${b.id}`;
    if (how === 'disabled')
      expect(
        (await call(stack.server.url, 'PATCH', childPath, { token: c.jwt, body: { status: 'disabled' } }))
          .status,
      ).toBe(200);
    if (how === 'deleted')
      expect((await call(stack.server.url, 'DELETE', childPath, { token: c.jwt })).status).toBe(200);
    if (how === 'parent revoked')
      expect(
        (await call(stack.server.url, 'DELETE', `/api/management/keys/${c.mkId}`, { token: c.jwt })).status,
      ).toBe(200);
    if (how === 'expired') await new Promise((r) => setTimeout(r, expiresAt.getTime() - Date.now() + 10));

    for (const [route, method, path] of noHoldRoutes(jobId, batchId, fileId)) {
      const res = await call(stack.server.url, method, path, {
        token: b.key,
        ...(method === 'POST'
          ? { body: { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' } }
          : {}),
      });
      expect([route, res.status, res.body.error?.type, res.body.error?.code]).toEqual([
        route,
        401,
        'invalid_api_key',
        code,
      ]);
    }
    expect(await uploadStatus(b.key)).toBe(401);
    // Nothing was cancelled or created by the refused calls.
    expect(
      (await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey })).body.status,
    ).not.toBe('cancelled');
    if (how !== 'parent revoked') {
      // Its sibling is untouched (a revoked parent takes both keys down).
      const list = await call(stack.server.url, 'GET', '/v1/batches', { token: c.childKey });
      expect([list.status, list.body.data.map((x: { id: string }) => x.id)]).toEqual([200, [batchId]]);
    }
  });

  it('is refused with 401 rather than told its request is invalid', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const path = `/api/management/keys/${c.mkId}/children/${c.childId}`;
    expect(
      (await call(stack.server.url, 'PATCH', path, { token: c.jwt, body: { status: 'disabled' } })).status,
    ).toBe(200);
    for (const [route, body] of [
      ['/v1/chat/completions', { ...REQUEST, model: 'no-such-model' }],
      ['/v1/jobs', { request: { messages: [] } }],
    ] as const) {
      const res = await call(stack.server.url, 'POST', route, { token: c.childKey, body });
      expect([route, res.status, res.body.error.code]).toEqual([route, 401, 'key_disabled']);
    }
  });

  it('is refused as expired once past its expiry though disabled, as its GET shows it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const expiresAt = new Date(Date.now() + 1500);
    const b = await sibling(c, { expires_at: expiresAt.toISOString() });
    const path = `/api/management/keys/${c.mkId}/children/${b.id}`;
    const disable = await call(stack.server.url, 'PATCH', path, {
      token: c.jwt,
      body: { status: 'disabled' },
    });
    expect(disable.body.status).toBe('disabled');
    const before = await call(stack.server.url, 'POST', '/v1/chat/completions', {
      token: b.key,
      body: REQUEST,
    });
    expect(before.body.error.code).toBe('key_disabled');
    await new Promise((r) => setTimeout(r, expiresAt.getTime() - Date.now() + 10));

    expect((await call(stack.server.url, 'GET', path, { token: c.jwt })).body.status).toBe('expired');
    for (const [method, route, body] of [
      ['POST', '/v1/chat/completions', REQUEST],
      ['POST', '/v1/jobs', { request: REQUEST }],
      ['GET', '/v1/models', undefined],
    ] as const) {
      const res = await call(stack.server.url, method, route, { token: b.key, body });
      expect([route, res.status, res.body.error.code]).toEqual([route, 401, 'key_expired']);
    }
  });
});

describe('RPM headers on every /v1 answer', () => {
  it('say a key that has made no request has nothing to wait for', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 7 } });
    const res = await call(stack.server.url, 'GET', '/v1/models', { token: c.childKey });
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('7');
    expect(res.headers.get('x-ratelimit-reset-requests')).toBe('0s');
  });

  it('go out on reads, 404s and 400s, which do not count toward the limit', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 3 } });
    const admitted = await call(stack.server.url, 'POST', '/v1/chat/completions', {
      token: c.childKey,
      body: REQUEST,
    });
    expect(admitted.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    const jobId = await submitJob(stack.server.url, c.childKey, REQUEST); // the second of three

    for (const [what, method, path, body, status] of [
      ['models', 'GET', '/v1/models', undefined, 200],
      ['a job', 'GET', `/v1/jobs/${jobId}`, undefined, 200],
      ['an unknown job', 'GET', '/v1/jobs/job_nope', undefined, 404],
      ['batches', 'GET', '/v1/batches', undefined, 200],
      ['an unknown model', 'POST', '/v1/chat/completions', { ...REQUEST, model: 'nope' }, 400],
      ['a job without messages', 'POST', '/v1/jobs', { request: { model: SIM_MODEL_QWQ_32B } }, 400],
      ['a NUL in a job id', 'GET', '/v1/jobs/job_%00', undefined, 400],
      ['a NUL in a list filter', 'GET', '/v1/batches?after=b%00', undefined, 400],
    ] as const) {
      const res = await call(stack.server.url, method, path, {
        token: c.childKey,
        ...(body ? { body } : {}),
      });
      expect([what, res.status]).toEqual([what, status]);
      expect([what, res.headers.get('x-ratelimit-limit-requests')]).toEqual([what, '3']);
      expect([what, res.headers.get('x-ratelimit-remaining-requests')]).toEqual([what, '1']);
      expect(res.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
    }
    // None of them took a slot: the third admission still fits, the fourth does not.
    const third = await call(stack.server.url, 'POST', '/v1/chat/completions', {
      token: c.childKey,
      body: REQUEST,
    });
    expect([third.status, third.headers.get('x-ratelimit-remaining-requests')]).toEqual([200, '0']);
    const fourth = await call(stack.server.url, 'POST', '/v1/chat/completions', {
      token: c.childKey,
      body: REQUEST,
    });
    expect(fourth.status).toBe(429);
    const read = await call(stack.server.url, 'GET', '/v1/models', { token: c.childKey });
    expect([read.status, read.headers.get('x-ratelimit-remaining-requests')]).toEqual([200, '0']);

    // A URL's NUL, like a body's fault, waits for the key: an unknown one is a 401 whatever it sent.
    const unknown = await call(stack.server.url, 'GET', '/v1/jobs/job_%00', { token: 'gc-nope' });
    expect([unknown.status, unknown.body.error.code]).toEqual([401, 'key_unknown']);

    // A key without an RPM limit carries none.
    const free = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'GET', '/v1/models', { token: free.childKey });
    expect([res.status, res.headers.get('x-ratelimit-limit-requests')]).toEqual([200, null]);
  });
});

describe('POST /v1/jobs validation', () => {
  it('names request.model for an unknown model, and holds nothing', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: { ...REQUEST, model: 'no-such-model' } },
    });
    expect([res.status, res.body.error.type, res.body.error.param]).toEqual([
      400,
      'invalid_request_error',
      'request.model',
    ]);
    expect((await accountView(stack.server.url, c.jwt)).held_ngonka).toBe('0');
  });
});

describe('after Redis lost the key’s state', () => {
  it('rebuilds it from Postgres on a read, and still refuses a disabled key', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 5 } });
    const { ctx } = stack.env;
    const forget = () =>
      ctx.redis.del(ctx.keys.childKey(c.accountId, c.childId), ctx.keys.managementKey(c.accountId, c.mkId));
    await forget();
    const read = await call(stack.server.url, 'GET', '/v1/models', { token: c.childKey });
    expect([read.status, read.headers.get('x-ratelimit-limit-requests')]).toEqual([200, '5']);

    const path = `/api/management/keys/${c.mkId}/children/${c.childId}`;
    expect(
      (await call(stack.server.url, 'PATCH', path, { token: c.jwt, body: { status: 'disabled' } })).status,
    ).toBe(200);
    await forget();
    const refused = await call(stack.server.url, 'GET', '/v1/models', { token: c.childKey });
    expect([refused.status, refused.body.error.code]).toEqual([401, 'key_disabled']);
  });
});
