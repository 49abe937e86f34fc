import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSimPrice, SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { priceTokens } from '../../shared/pricing.js';
import { createCustomer, secondManagementKey } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call, startTestServer } from '../helpers/http.js';
import { submitJob } from '../helpers/jobs.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: TestStack;
let receiver: Server;
let receiverUrl: string;
const received: { headers: Record<string, string>; body: string }[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', INFERENCE_ATTEMPTS: '2', INFERENCE_BACKOFF_MS: '50' },
  });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers as Record<string, string>, body });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  receiver?.close();
  await stack?.close();
});

const request = (content: string) => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  max_tokens: 30,
});

async function poll(key: string, id: string, until: (s: string) => boolean) {
  return waitFor(`job ${id}`, async () => {
    const r = await call(stack.server.url, 'GET', `/v1/jobs/${id}`, { token: key });
    return until(r.body.status) ? r.body : null;
  });
}

describe('async jobs', () => {
  it('accepts a job with 202, runs it, and bills its usage once', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('Summarise this'), metadata: { order: 42 } },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ object: 'job', status: 'queued', metadata: { order: 42 } });
    const job = await poll(c.childKey, res.body.id, (s) => s === 'succeeded');
    expect(job.result.object).toBe('chat.completion');
    expect(job.result.model).toBe(SIM_MODEL_QWQ_32B);
    expect(job.usage.total_tokens).toBe(job.usage.prompt_tokens + job.usage.completion_tokens);
    // The node's price a token, ×1.2.
    expect(job.cost_ngonka).toBe(
      priceTokens(BigInt(job.usage.total_tokens), defaultSimPrice(SIM_MODEL_QWQ_32B), 12000).toString(),
    );
    await waitFor('settled', async () => {
      const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
      return (
        a.body.held_ngonka === '0' &&
        a.body.balance_ngonka === String(1_000_000_000 - Number(job.cost_ngonka))
      );
    });
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('fails a job visibly after its attempts and releases the hold', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('break [[sim status=500]]') },
    });
    const job = await poll(c.childKey, res.body.id, (s) => s === 'failed');
    expect(job.error.type).toBe('upstream_error');
    expect(job.attempts).toBe(2);
    expect(job.error.message).toBe('The model failed to answer (tried 2 times)');
    await waitFor('hold voided', async () => {
      const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
      return a.body.held_ngonka === '0' && a.body.balance_ngonka === '1000000000';
    });
  });

  it('retries a job the gateway’s own Gonka account could not pay for (a node’s 402), as it does no capacity', async () => {
    // The operator tops the account up within minutes: a job must not fail for good at its first try.
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('pay [[sim status=402]]') },
    });
    // Its first attempt failed, and the next waits far longer than the usual backoff (50 ms here).
    await waitFor('first attempt', async () => {
      const r = await call(stack.server.url, 'GET', `/v1/jobs/${res.body.id}`, { token: c.childKey });
      return r.body.attempts === 1 && r.body.status === 'queued';
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const waiting = await call(stack.server.url, 'GET', `/v1/jobs/${res.body.id}`, { token: c.childKey });
    expect([waiting.body.status, waiting.body.attempts]).toEqual(['queued', 1]);
    const job = await poll(c.childKey, res.body.id, (s) => s === 'failed');
    expect(job.attempts).toBe(2);
    expect(job.error.type).toBe('upstream_unavailable');
    await waitFor('hold voided', async () => {
      const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
      return a.body.held_ngonka === '0' && a.body.balance_ngonka === '1000000000';
    });
  });

  it('shows a job running while its node call lasts, and records every attempt and its start', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const submit = (content: string) => submitJob(stack.server.url, c.childKey, request(content));
    // Longer than INFERENCE_RUNNING_MARK_MS (100 ms): polled, it is seen running on its first attempt.
    const slow = await submit('slow [[sim latency=1500]]');
    const running = await poll(c.childKey, slow, (s) => s !== 'queued');
    expect(running).toMatchObject({ status: 'running', attempts: 1 });
    expect(running.started_at).toEqual(expect.any(Number));
    const done = await poll(c.childKey, slow, (s) => s === 'succeeded');
    expect(done).toMatchObject({ attempts: 1, started_at: running.started_at });
    // A fast one goes from queued to succeeded in one write, which carries its attempt and start.
    const fast = await poll(c.childKey, await submit('fast'), (s) => s === 'succeeded');
    expect(fast.attempts).toBe(1);
    expect(fast.started_at).toBeGreaterThanOrEqual(fast.created_at);
    expect(fast.completed_at).toBeGreaterThanOrEqual(fast.started_at);
  });

  it('signs job.succeeded to the job webhook_url with the account default secret', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('Hook me'), webhook_url: receiverUrl },
    });
    await poll(c.childKey, res.body.id, (s) => s === 'succeeded');
    const hit = await waitFor('webhook', async () => received.find((r) => r.body.includes(res.body.id)));
    const secret = await call(stack.server.url, 'GET', '/api/webhooks/default-secret', { token: c.jwt });
    const event = new Webhook(secret.body.secret).verify(hit.body, hit.headers) as {
      type: string;
      data: { id: string };
    };
    expect(event.type).toBe('job.succeeded');
    expect(event.data.id).toBe(res.body.id);

    // The owner finds the delivery in the log of per-job webhook_urls, with its attempt.
    const log = await waitFor('delivery logged', async () => {
      const l = await call(stack.server.url, 'GET', '/api/webhooks/job-deliveries', { token: c.jwt });
      return l.body.data[0]?.status === 'succeeded' ? l.body : null;
    });
    expect(log.data).toMatchObject([
      {
        id: hit.headers['webhook-id'],
        job_id: res.body.id,
        url: receiverUrl,
        event_type: 'job.succeeded',
        attempts: 1,
        attempts_log: [{ attempt: 1, status_code: 200 }],
      },
    ]);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    expect(
      (await call(stack.server.url, 'GET', '/api/webhooks/job-deliveries', { token: other.jwt })).body.data,
    ).toEqual([]);
  });

  it('shows a job to sibling child keys and the owner, and to no one else', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('mine') },
    });
    const sibling = await call(stack.server.url, 'POST', `/api/management/keys/${c.mkId}/children`, {
      token: c.jwt,
      body: { name: 'sibling' },
    });
    expect(
      (await call(stack.server.url, 'GET', `/v1/jobs/${res.body.id}`, { token: sibling.body.key })).status,
    ).toBe(200);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const foreign = await call(stack.server.url, 'GET', `/v1/jobs/${res.body.id}`, { token: other.childKey });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.type).toBe('not_found');
  });

  it('lists the management key’s jobs to each of its child keys, a page at a time, and no one else’s', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const sibling = await call(stack.server.url, 'POST', `/api/management/keys/${c.mkId}/children`, {
      token: c.jwt,
      body: { name: 'sibling' },
    });
    const ids: string[] = [];
    for (const content of ['one', 'two', 'three'])
      ids.push(await submitJob(stack.server.url, c.childKey, request(content)));
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const two = await secondManagementKey(stack.server.url, c);
    const theirs = await submitJob(stack.server.url, two.childKey, request('theirs'));

    const list = (key: string, query = '') =>
      call(stack.server.url, 'GET', `/v1/jobs${query}`, { token: key });
    const first = await list(sibling.body.key, '?limit=2');
    expect(first.body).toMatchObject({ object: 'list', has_more: true, last_id: ids[1] });
    expect(first.body.data.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.data[0]).toMatchObject({ object: 'job', key_id: c.childId });
    const rest = await list(c.childKey, `?limit=2&after=${ids[1]}`);
    expect([rest.body.data.map((j: { id: string }) => j.id), rest.body.has_more]).toEqual([[ids[0]], false]);
    // Another management key's job is no cursor (a 400, as an unknown one), and none of its jobs
    // are listed here.
    for (const after of [theirs, 'job_unknown']) {
      const refused = await list(c.childKey, `?after=${after}`);
      expect([refused.status, refused.body.error.param]).toEqual([400, 'after']);
    }
    expect((await list(two.childKey)).body.data.map((j: { id: string }) => j.id)).toEqual([theirs]);
    expect((await list(other.childKey)).body.data).toEqual([]);
    const bad = await list(c.childKey, '?status=pending');
    expect([bad.status, bad.body.error.param]).toEqual([400, 'status']);
  });

  it('refuses bad job bodies with 400 naming the field', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const cases: [unknown, string][] = [
      [{}, 'request'],
      [{ request: { ...request('x'), stream: true } }, 'request.stream'],
      [{ request: { ...request('x'), stream_options: { include_usage: true } } }, 'request.stream_options'],
      [{ request: request('x'), webhook_url: 'not a url' }, 'webhook_url'],
      [{ request: request('x'), extra: 1 }, 'extra'],
      [{ request: { ...request('x'), messages: [] } }, 'request.messages'],
      [
        { request: { ...request('x'), messages: [{ role: 'user', content: 5 }] } },
        'request.messages.0.content',
      ],
      [
        { request: { ...request('x'), messages: [{ role: 'bogus', content: 'hi' }] } },
        'request.messages.0.role',
      ],
      // Echoed on every get, list page and webhook: bounded as a child key's (16 KiB as JSON).
      [{ request: request('x'), metadata: { big: 'x'.repeat(16 * 1024) } }, 'metadata'],
      [{ request: request('x'), metadata: JSON.parse('{"__proto__": {"x": 1}}') }, 'metadata'],
    ];
    for (const [body, param] of cases) {
      const r = await call(stack.server.url, 'POST', '/v1/jobs', { token: c.childKey, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.param).toBe(param);
    }
    // A URL of another scheme, or none, is named for what it is, as for an endpoint's url.
    for (const [url, says] of [
      ['ftp://hooks.example.com/x', 'must use https or http'],
      ['', 'must be an absolute URL'],
    ]) {
      const r = await call(stack.server.url, 'POST', '/v1/jobs', {
        token: c.childKey,
        body: { request: request('x'), webhook_url: url },
      });
      expect(r.body.error).toMatchObject({ param: 'webhook_url', message: `webhook_url: ${says}` });
    }
  });

  it('refuses a webhook_url whose host does not resolve in a few seconds with 400 naming it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // The same gateway, whose resolver never answers.
    const stuck = await startTestServer(
      { ...stack.env.ctx, lookupHost: () => new Promise(() => {}) },
      stack.deps,
    );
    try {
      const started = Date.now();
      const r = await call(stuck.url, 'POST', '/v1/jobs', {
        token: c.childKey,
        body: { request: request('x'), webhook_url: 'https://hooks.test/hook' },
      });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param: 'webhook_url' });
      expect(r.body.error.message).toMatch(/hooks\.test did not resolve within 3 s/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await stuck.close();
    }
  }, 15_000);

  it('refuses a job for money with 402 and creates nothing', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { limit_daily_ngonka: '10' } });
    const r = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('too dear') },
    });
    expect(r.status).toBe(402);
    expect(r.body.error).toMatchObject({
      type: 'child_key_limit',
      daily_remaining: '10',
      monthly_remaining: null,
    });
    const [n] = await stack.env.ctx
      .sql`select count(*)::int as n from jobs where child_key_id = ${c.childId}`;
    expect(n?.n).toBe(0);
  });
});
