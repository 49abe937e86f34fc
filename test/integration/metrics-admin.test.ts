import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';
import { findHold } from '../../shared/db/queries/holds.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { redactPaths } from '../../shared/logger.js';
import { observeSettlement } from '../../shared/metrics/registry.js';
import { createMetricsRegistry } from '../../shared/metrics/scrape.js';
import { serveMetrics } from '../../shared/metrics/server.js';
import { readiness } from '../../shared/readiness.js';
import { createRedis } from '../../shared/redis/client.js';
import { reconcileCheck } from '../../shared/scheduler/tasks/reconcile-check.js';
import { sweepStaleHolds } from '../../shared/scheduler/tasks/stale-holds.js';
import { attemptDelivery } from '../../shared/webhooks/deliver.js';
import { createTestEnv } from '../helpers/context.js';
import { createCustomer } from '../helpers/customer.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { call, startTestServer } from '../helpers/http.js';
import { admitJob, hold, outcome } from '../helpers/scheduler.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { pendingDelivery } from '../helpers/webhook-deliveries.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

let stack: TestStack;
const TOKEN = 'test-admin-token-0123456789';

beforeAll(async () => {
  stack = await startTestStack({
    env: { RECONCILE_INFLIGHT_MS: '0', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' },
    workers: { settlement: { onSettled: observeSettlement } },
  });
});
afterAll(async () => {
  await stack?.close();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(stack.server.url + path, { headers, redirect: 'manual' });

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('GET /metrics', () => {
  it('shows what open holds reserve, those past their deadline, and what the stale-hold sweeper resolved', async () => {
    const { ctx } = stack.env;
    const read = async () => {
      const text = await (await get('/metrics')).text();
      return {
        open: sample(text, 'gateway_open_holds')!,
        ngonka: sample(text, 'gateway_open_holds_ngonka')!,
        overdue: sample(text, 'gateway_open_holds_overdue')!,
        oldest: sample(text, 'gateway_open_hold_oldest_age_seconds')!,
        voided: sample(text, 'gateway_stale_holds_resolved_total', 'outcome="voided"') ?? 0,
      };
    };
    const f = await createKeyFixture(ctx, { balance: 10_000n });
    // The file's first test: no other request's hold is open, or settling, meanwhile.
    const before = await read();
    expect(before).toEqual({ open: 0, ngonka: 0, overdue: 0, oldest: 0, voided: 0 });
    // At 0 before anything was resolved (an alert's increase() needs a first sample).
    const text = await (await get('/metrics')).text();
    expect(sample(text, 'gateway_stale_holds_resolved_total', 'outcome="voided"')).toBe(0);
    expect(sample(text, 'gateway_stale_holds_resolved_total', 'outcome="posted"')).toBe(0);
    expect(sample(text, 'gateway_served_unbilled_total')).toBe(0);
    const id = await hold(ctx, f.key, 300n, { ttlMs: 50 });
    await waitFor('its deadline passed', async () => (await read()).overdue === 1);
    const held = await read();
    expect(held).toMatchObject({ open: 1, ngonka: 300, overdue: 1 });
    expect(held.oldest).toBeGreaterThanOrEqual(0.05);

    await sweepStaleHolds(ctx, stack.deps.queues);
    expect((await findHold(ctx.sql, id))?.status).toBe('voided');
    expect(await read()).toEqual({ open: 0, ngonka: 0, overdue: 0, oldest: 0, voided: 1 });
  });

  it('exposes admission, queue, node, settlement and reconciliation series', async () => {
    const { ctx } = stack.env;
    const f = await createKeyFixture(ctx, { balance: 1000n });
    const id = await hold(ctx, f.key, 100n);
    expect(await outcome(hold(ctx, f.key, 5000n))).toBe('insufficient_balance');
    await stack.deps.queues.add('settlement', { holdId: id, outcome: 'void', enqueuedAt: Date.now() });
    await waitFor('settled', async () => (await findHold(ctx.sql, id))?.status === 'voided');
    await reconcileCheck(ctx, stack.deps.queues);
    await admitJob(ctx, f, 10n); // recorded, never enqueued: a queued job for the gauge
    // A node's latency is its completions' (a price read sets none).
    const ask = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
    await stack.deps.upstream.client.chat(ask);

    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sample(text, 'gateway_admission_duration_seconds_count', 'outcome="admitted"')).toBeGreaterThan(0);
    expect(sample(text, 'gateway_admissions_total', 'result="insufficient_balance"')).toBeGreaterThan(0);
    expect(sample(text, 'gateway_settlement_lag_seconds_count', 'status="voided"')).toBeGreaterThan(0);
    expect(sample(text, 'gateway_queue_jobs', 'queue="settlement",state="completed"')).toBeGreaterThan(0);
    expect(sample(text, 'gateway_queue_jobs', 'queue="inference",state="waiting"')).toBe(0);
    expect(sample(text, 'gateway_async_jobs', 'status="queued"')).toBe(1);
    expect(sample(text, 'gateway_async_jobs', 'status="running"')).toBe(0);
    const node = stack.sim.urls[0]!.replace(/\/$/, '');
    expect(text).toMatch(new RegExp(`gateway_upstream_node_consecutive_failures\\{node="${node}/?"\\} 0`));
    expect(text).toContain('gateway_upstream_node_latency_seconds{node=');
    expect(sample(text, 'gateway_reconcile_drift', 'check="redis_counters"')).toBe(0);
    expect(sample(text, 'gateway_reconcile_last_run_timestamp_seconds')).toBeGreaterThan(0);
    expect(text).toContain('gateway_process_resident_memory_bytes');
    // This host's clock against Redis's: the same host here.
    expect(Math.abs(sample(text, 'gateway_clock_offset_seconds')!)).toBeLessThan(1);
  });

  it('times HTTP requests by method, route (ids folded) and status, on the fast path and Express alike', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const chat = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };
    const v1 = (method: 'GET' | 'POST', path: string, body?: unknown) =>
      call(stack.server.url, method, path, { token: c.childKey, ...(body ? { body } : {}) });
    expect((await v1('POST', '/v1/chat/completions', chat)).status).toBe(200);
    expect((await v1('GET', '/v1/jobs/job_doesnotexist0000')).status).toBe(404);
    expect((await v1('GET', '/v1/jobs/job_doesnotexist0001')).status).toBe(404);
    expect((await v1('GET', `/no/such/${Date.now()}`)).status).toBe(404);
    expect((await call(stack.server.url, 'GET', '/v1/models', { token: 'gc-unknown' })).status).toBe(401);
    // Whatever a path names, found or not, its route's pattern is the label.
    expect((await v1('GET', '/v1/jobs/x1')).status).toBe(404);
    expect((await v1('GET', '/v1/models/m1')).status).toBe(404);
    expect((await v1('GET', '/v1/models/M2/deeper')).status).toBe(404);
    expect((await v1('GET', `/v1/models/${SIM_MODEL_QWQ_32B}`)).status).toBe(200);
    expect((await call(stack.server.url, 'GET', '/api/account/ledger/le_5', { token: c.jwt })).status).toBe(
      404,
    );
    const children = await call(stack.server.url, 'GET', '/api/management/keys/zz1/children', {
      token: c.jwt,
    });
    expect(children.status).toBe(404);
    const text = await (await get('/metrics')).text();
    const count = (labels: string) => sample(text, 'gateway_http_request_duration_seconds_count', labels);
    expect(count('method="POST",route="/v1/chat/completions",status="200"')).toBeGreaterThan(0);
    expect(count('method="GET",route="/v1/jobs/:id",status="404"')).toBeGreaterThanOrEqual(2);
    expect(count('method="GET",route="unmatched",status="404"')).toBeGreaterThan(0);
    expect(count('method="GET",route="/v1/*",status="401"')).toBeGreaterThan(0);
    expect(count('method="GET",route="/v1/models/*id",status="404"')).toBe(2);
    expect(count('method="GET",route="/v1/models/*id",status="200"')).toBeGreaterThan(0);
    expect(count('method="GET",route="/api/account/ledger/:id",status="404"')).toBe(1);
    expect(count('method="GET",route="/api/management/keys/:id/children",status="404"')).toBe(1);
    for (const raw of ['job_doesnotexist', '/x1', 'm1', 'le_5', 'zz1']) expect(text).not.toContain(raw);
  });

  it('counts each Gonka node’s calls and failed calls', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const totals = async () => {
      const text = await (await get('/metrics')).text();
      const sum = (name: string) =>
        text
          .split('\n')
          .filter((l) => l.startsWith(`${name}{`))
          .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
      return {
        calls: sum('gateway_upstream_node_calls_total'),
        failed: sum('gateway_upstream_node_failures_total'),
      };
    };
    const before = await totals();
    const chat = (content: string) =>
      call(stack.server.url, 'POST', '/v1/chat/completions', {
        token: c.childKey,
        body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content }], max_tokens: 4 },
      });
    expect((await chat('fine')).status).toBe(200);
    // Every node answers 500 to this one: each attempt is a failed call, and the client a 502.
    expect((await chat('broken [[sim status=500]]')).status).toBe(502);
    const after = await totals();
    expect(after.calls - before.calls).toBeGreaterThanOrEqual(2);
    expect(after.failed - before.failed).toBeGreaterThanOrEqual(1);
    expect(after.calls - after.failed - (before.calls - before.failed)).toBe(1); // the one that worked
  });

  it('counts webhook delivery attempts by result and by the receiver’s answer', async () => {
    const { ctx } = stack.env;
    const receiver = await startWebhookReceiver();
    const attempts = async () => {
      const text = await (await get('/metrics')).text();
      const n = (labels: string) => sample(text, 'gateway_webhook_attempts_total', labels) ?? 0;
      return {
        retry5xx: n('result="retry",response="5xx"'),
        succeeded: n('result="succeeded",response="2xx"'),
        disabled: n('result="disabled",response="4xx"'),
      };
    };
    try {
      const before = await attempts();
      const policy = { schedule: [0], timeoutMs: 5000 };
      const ok = await pendingDelivery(ctx, receiver, new Date());
      receiver.plan(ok.path, [503, 200]);
      expect((await attemptDelivery(ctx, ok.id, policy)).kind).toBe('retry');
      expect(await attemptDelivery(ctx, ok.id, policy)).toMatchObject({ kind: 'done', status: 'succeeded' });
      const gone = await pendingDelivery(ctx, receiver, new Date());
      receiver.plan(gone.path, [410]);
      expect(await attemptDelivery(ctx, gone.id, policy)).toMatchObject({ kind: 'done', status: 'disabled' });

      const after = await attempts();
      expect(after.retry5xx - before.retry5xx).toBe(1);
      expect(after.succeeded - before.succeeded).toBe(1);
      expect(after.disabled - before.disabled).toBe(1);
    } finally {
      await receiver.close();
    }
  });
});

describe('METRICS_TOKEN', () => {
  it('when set, /metrics answers only its bearer: on the api and on METRICS_PORT alike', async () => {
    const metricsToken = 'metrics-token-0123456789';
    const env = await createTestEnv({ env: { METRICS_TOKEN: metricsToken } });
    const server = await startTestServer(env.ctx, stack.deps);
    const port = await freePort();
    const stop = await serveMetrics(createMetricsRegistry(env.ctx, {}), port, '127.0.0.1', env.ctx.logger, {
      token: env.config.METRICS_TOKEN,
    });
    try {
      for (const base of [server.url, `http://127.0.0.1:${port}`]) {
        const scrape = (token?: string) =>
          fetch(`${base}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
        // The same refusal on both: the error envelope, and the scheme to answer with.
        const refused = await scrape();
        expect([refused.status, refused.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
        expect(await refused.json()).toEqual({
          error: { type: 'authentication_error', message: 'Metrics token required' },
        });
        expect((await scrape('metrics-token-0123456788')).status).toBe(401);
        expect((await scrape(TOKEN)).status).toBe(401); // the admin token is another secret
        const ok = await scrape(metricsToken);
        expect(ok.status).toBe(200);
        expect(await ok.text()).toContain('gateway_admissions_total');
      }
    } finally {
      await stop();
      await server.close();
      await env.close();
    }
  });
});

describe('METRICS_PORT', () => {
  it('answers /healthz, and /readyz from the stores: 200 while both answer, 503 naming the one that does not', async () => {
    const { ctx } = stack.env;
    const unreachable = createRedis('redis://127.0.0.1:1');
    unreachable.on('error', () => {}); // it keeps trying; the probe is what is under test
    const listeners = [];
    for (const redis of [ctx.redis, unreachable]) {
      const port = await freePort();
      const close = await serveMetrics(createMetricsRegistry(ctx, {}), port, '127.0.0.1', ctx.logger, {
        ready: () => readiness({ sql: ctx.sql, redis }),
      });
      listeners.push({ base: `http://127.0.0.1:${port}`, close });
    }
    try {
      const [up, down] = listeners.map((l) => l.base);
      expect(await call(up!, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await call(up!, 'GET', '/readyz')).toMatchObject({
        status: 200,
        body: { status: 'ok', postgres: 'ok', redis: 'ok' },
      });
      expect(await call(down!, 'GET', '/healthz')).toMatchObject({ status: 200 });
      expect(await call(down!, 'GET', '/readyz')).toMatchObject({
        status: 503,
        body: { status: 'unavailable', postgres: 'ok', redis: 'down' },
      });
      expect((await fetch(`${up}/elsewhere`)).status).toBe(404);
    } finally {
      for (const l of listeners) await l.close();
      unreachable.disconnect();
    }
  });
});

describe('/admin/queues', () => {
  it('needs the admin token: 401 without, the board with a Bearer header', async () => {
    const none = await get('/admin/queues');
    expect(none.status).toBe(401);
    expect((await none.json()).error.type).toBe('authentication_error');
    expect((await get('/admin/queues', { authorization: 'Bearer wrong-token-0123456789x' })).status).toBe(
      401,
    );

    const page = await get('/admin/queues', { authorization: `Bearer ${TOKEN}` });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const api = await get('/admin/queues/api/queues', { authorization: `Bearer ${TOKEN}` });
    expect(api.status).toBe(200);
    const listed = (await api.json()).queues as { name: string; readOnlyMode: boolean }[];
    expect(listed.map((q) => q.name).sort()).toEqual(
      expect.arrayContaining(['inference', 'settlement', 'webhooks']),
    );
    // The money queue cannot be emptied or paused from the board (answered requests would go unbilled).
    expect(listed.find((q) => q.name === 'settlement')?.readOnlyMode).toBe(true);
    expect(listed.find((q) => q.name === 'webhooks')?.readOnlyMode).toBe(false);
    const empty = await fetch(`${stack.server.url}/admin/queues/api/queues/settlement/empty`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect([empty.status, (await empty.text()).toLowerCase()]).toEqual([
      405,
      expect.stringContaining('queue_read_only'),
    ]);
  });

  it('lets a browser in with ?token= once, then by cookie, without the token in the URL', async () => {
    expect((await get('/admin/queues?token=nope')).status).toBe(401);
    const first = await get(`/admin/queues?token=${TOKEN}`);
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/admin/queues');
    const cookie = first.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/admin\/queues/);
    const page = await get('/admin/queues', { cookie: cookie.split(';')[0]! });
    expect(page.status).toBe(200);
  });

  it('keeps the admin token itself out of the cookie: a leaked cookie opens the board, not top-ups', async () => {
    const first = await get(`/admin/queues?token=${TOKEN}`);
    const session = (first.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(session).toMatch(/^gw_admin=./);
    expect(session).not.toContain(TOKEN);
    expect((await get('/admin/queues', { cookie: session })).status).toBe(200);
    // The cookie's value is no admin token …
    const value = session.slice('gw_admin='.length);
    const topup = await call(stack.server.url, 'POST', '/api/admin/topups', {
      token: value,
      body: { email: 'nobody@example.test', amount_ngonka: '1', reference: 'leak' },
    });
    expect(topup.status).toBe(401);
    // … and the token as a cookie is no session.
    expect((await get('/admin/queues', { cookie: `gw_admin=${TOKEN}` })).status).toBe(401);
  });

  it('keeps a ?token= out of the access log', async () => {
    const lines: string[] = [];
    // The gateway's own redaction (cookies, authorization) and an access log we can read.
    const logger = pino(
      { level: 'debug', redact: { paths: redactPaths, censor: '[redacted]' } },
      { write: (l: string) => lines.push(l) },
    );
    const server = await startTestServer({ ...stack.env.ctx, logger }, stack.deps);
    try {
      const res = await fetch(`${server.url}/admin/queues?x=1&token=${TOKEN}`, { redirect: 'manual' });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/admin/queues?x=1');
      const session = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
      await fetch(`${server.url}/admin/queues?x=1`, { headers: { cookie: session } });
      await waitFor('access log line', async () => lines.some((l) => l.includes('"statusCode":200')));
      expect(lines.join('\n')).not.toContain(TOKEN);
    } finally {
      await server.close();
    }
  });

  it('is 404 when ADMIN_TOKEN is not set', async () => {
    const env = await createTestEnv({ env: { ADMIN_TOKEN: '' } });
    const server = await startTestServer(env.ctx, stack.deps);
    try {
      const res = await fetch(`${server.url}/admin/queues`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(404);
    } finally {
      await server.close();
      await env.close();
    }
  });
});
