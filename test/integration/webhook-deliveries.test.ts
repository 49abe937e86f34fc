import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertWebhookDeliveries } from '../../shared/db/queries/webhook-deliveries.js';
import { newId } from '../../shared/ids.js';
import { createQueues, type Queues } from '../../shared/queues.js';
import { emitEvent } from '../../shared/webhooks/emit.js';
import { newWebhookSecret } from '../../shared/webhooks/events.js';
import { resumeStalledDeliveries } from '../../shared/webhooks/resume.js';
import { startWorkers } from '../../workers/index.js';
import { createTestAccount, type TestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import {
  deliveryRow,
  insertWebhookEndpoint,
  newPath,
  pause,
  queuedLater,
  settledRow,
} from '../helpers/webhook-deliveries.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

// Real Postgres, Redis and BullMQ workers; the receiver verifies every delivery with the
// standardwebhooks library. The system clock is used: receivers reject stale webhook-timestamps.
const SCHEDULE = [50, 50, 50];
const TIMEOUT_MS = 500;
let env: TestEnv;
let strict: TestEnv;
let server: TestServer;
let queues: Queues;
let strictQueues: Queues;
let receiver: WebhookReceiver;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  env = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  strict = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' } });
  server = await startTestServer(env.ctx);
  receiver = await startWebhookReceiver();
  queues = createQueues(env.ctx);
  strictQueues = createQueues(strict.ctx);
  stops.push(startWorkers(env.ctx, { webhooks: { schedule: SCHEDULE, timeoutMs: TIMEOUT_MS } }));
  stops.push(startWorkers(strict.ctx, { webhooks: { schedule: SCHEDULE, timeoutMs: TIMEOUT_MS } }));
});
// Every delivery must verify; checked per test (then forgotten) so a failure names its test.
afterEach(() => {
  const unverified = receiver.received.filter((r) => !r.verified);
  receiver.received.splice(0);
  expect(unverified).toEqual([]);
});
afterAll(async () => {
  for (const stop of stops) await stop();
  await queues?.close();
  await strictQueues?.close();
  await receiver?.close();
  await server?.close();
  await env?.close();
  await strict?.close();
});

const api = (method: string, path: string, token: string) => call(server.url, method, path, { token });

async function register(acct: TestAccount, events: string[] = ['*']) {
  const path = newPath();
  const res = await call(server.url, 'POST', '/api/webhooks', {
    token: acct.token,
    body: { url: receiver.base + path, events },
  });
  expect(res.status).toBe(201);
  receiver.expectSecret(path, res.body.secret);
  return { id: res.body.id as string, secret: res.body.secret as string, path };
}

/** The endpoint's delivery log once `n` deliveries exist and none is pending any more. */
async function settledLog(acct: TestAccount, endpointId: string, n = 1) {
  return waitFor(`deliveries of ${endpointId} to settle`, async () => {
    const { body } = await api('GET', `/api/webhooks/${endpointId}/deliveries`, acct.token);
    const data = body.data as any[];
    return data.length >= n && data.every((d) => d.status !== 'pending') ? data : null;
  });
}

/** A registered endpoint with one more delivery pending, due in an hour (no job for it yet). */
async function endpointWithLaterDelivery() {
  const acct = await createTestAccount(env.ctx);
  const e = await register(acct);
  const dueAt = new Date(Date.now() + 3_600_000);
  const later = await queuedLater(env.ctx, acct.id, e.id, receiver.base + e.path, dueAt);
  return { acct, e, later };
}

describe('webhook deliveries', () => {
  it('delivers an event to every subscribed endpoint, signed with its own secret', async () => {
    const acct = await createTestAccount(env.ctx);
    const jobs = await register(acct, ['job.succeeded']);
    const all = await register(acct, ['*']);
    const batches = await register(acct, ['batch.failed']);
    const data = { id: 'job_1', status: 'succeeded', cost_ngonka: '123' };
    const ids = await emitEvent(env.ctx, queues, { accountId: acct.id, type: 'job.succeeded', data });
    expect(ids).toHaveLength(2);

    const [delivery] = await settledLog(acct, jobs.id);
    await settledLog(acct, all.id);
    expect(delivery).toMatchObject({
      event_type: 'job.succeeded',
      status: 'succeeded',
      attempts: 1,
      last_status_code: 200,
      last_error: null,
      next_attempt_at: null,
      attempts_log: [{ attempt: 1, status_code: 200, error: null }],
    });
    const [got] = receiver.at(jobs.path);
    expect(got!.headers['webhook-id']).toBe(delivery.id);
    expect(got!.headers['content-type']).toBe('application/json');
    // White-label: a job's webhook_url may be a child key's client's; it sees the brand only.
    expect(got!.headers['user-agent']).toBe(`${env.config.BRAND_NAME}-Webhooks/1.0`);
    expect(got!.headers['user-agent']?.toLowerCase()).not.toContain('gonka');
    expect(got!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const body = JSON.parse(got!.body);
    expect(body).toEqual({ type: 'job.succeeded', timestamp: expect.any(String), data });
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
    expect(receiver.at(all.path)).toHaveLength(1);
    expect(receiver.at(batches.path)).toHaveLength(0);
  });

  it('retries a failing receiver on the schedule, with the same webhook-id', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    receiver.plan(e.path, [500, 503]);
    await emitEvent(env.ctx, queues, {
      accountId: acct.id,
      type: 'batch.completed',
      data: { id: 'batch_1' },
    });
    const [d] = await settledLog(acct, e.id);
    expect(d.status).toBe('succeeded');
    expect(d.attempts).toBe(3);
    expect(d.attempts_log.map((a: { status_code: number }) => a.status_code)).toEqual([500, 503, 200]);
    expect(d.attempts_log.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2, 3]);
    const got = receiver.at(e.path);
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([d.id]));
  });

  it('gives up as failed when the schedule runs out', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    receiver.plan(e.path, [500, 500, 500, 500, 500]);
    await emitEvent(env.ctx, queues, { accountId: acct.id, type: 'job.failed', data: {} });
    const [d] = await settledLog(acct, e.id);
    expect(d).toMatchObject({ status: 'failed', attempts: SCHEDULE.length + 1, next_attempt_at: null });
    expect(d.last_status_code).toBe(500);
    await pause(200);
    expect(receiver.at(e.path)).toHaveLength(SCHEDULE.length + 1);
  });

  it('disables the endpoint on 410 Gone and stops retrying', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    receiver.plan(e.path, [410]);
    await emitEvent(env.ctx, queues, { accountId: acct.id, type: 'key.expired', data: { id: 'ck_1' } });
    const [d] = await settledLog(acct, e.id);
    expect(d).toMatchObject({
      status: 'disabled',
      attempts: 1,
      last_status_code: 410,
      next_attempt_at: null,
    });
    await pause(300);
    expect(receiver.at(e.path)).toHaveLength(1);
    const list = await api('GET', '/api/webhooks', acct.token);
    expect(list.body.data[0]).toMatchObject({ id: e.id, status: 'disabled' });
    expect(list.body.data[0].disabled_reason).toMatch(/410 Gone/);
    // A disabled endpoint gets no new deliveries.
    expect(await emitEvent(env.ctx, queues, { accountId: acct.id, type: 'key.expired', data: {} })).toEqual(
      [],
    );
  });

  it('times out an attempt that never answers, then retries', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    receiver.plan(e.path, ['hang']);
    await emitEvent(env.ctx, queues, { accountId: acct.id, type: 'job.succeeded', data: {} });
    const [d] = await settledLog(acct, e.id);
    expect(d.status).toBe('succeeded');
    expect(d.attempts_log[0]).toMatchObject({
      attempt: 1,
      status_code: null,
      error: `timed out after ${TIMEOUT_MS} ms`,
    });
    expect(d.attempts_log[0].duration_ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(d.attempts_log[1]).toMatchObject({ attempt: 2, status_code: 200 });
  });

  it('lists an endpoint’s deliveries newest first, limited', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      ids.push(
        ...(await emitEvent(env.ctx, queues, { accountId: acct.id, type: 'job.succeeded', data: { n } })),
      );
      await pause(5);
    }
    await settledLog(acct, e.id, 3);
    const res = await api('GET', `/api/webhooks/${e.id}/deliveries?limit=2`, acct.token);
    expect(res.body.data.map((d: { id: string }) => d.id)).toEqual([ids[2], ids[1]]);
    // A parameter it does not take is a 400, as on every list, not ignored.
    for (const q of ['status=failed', 'limit[]=1']) {
      const bad = await api('GET', `/api/webhooks/${e.id}/deliveries?${q}`, acct.token);
      expect(bad.status, q).toBe(400);
    }
  });

  it('stops the pending deliveries of a deleted endpoint', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    await api('DELETE', `/api/webhooks/${e.id}`, acct.token);
    // As if emitted just before the delete.
    const id = newId('whd');
    await insertWebhookDeliveries(
      env.ctx.sql,
      { accountId: acct.id, type: 'job.failed', payload: {}, at: new Date() },
      [{ id, endpointId: e.id, url: receiver.base + e.path }],
    );
    await queues.add('webhooks', { deliveryId: id }, { jobId: id });
    const row = await settledRow(env.ctx, id);
    expect(row).toMatchObject({ status: 'failed', attempts: 0, last_error: 'endpoint deleted' });
    expect(receiver.at(e.path)).toHaveLength(0);
  });

  it('ends the endpoint’s other pending deliveries when a 410 disables it', async () => {
    const { acct, e, later } = await endpointWithLaterDelivery();
    receiver.plan(e.path, [410]);
    await emitEvent(env.ctx, queues, { accountId: acct.id, type: 'key.expired', data: {} });
    await settledLog(acct, e.id, 2);
    expect(await deliveryRow(env.ctx, later)).toMatchObject({
      status: 'disabled',
      attempts: 0,
      next_attempt_at: null,
      last_error: 'endpoint disabled',
    });
  });

  it('ends an endpoint’s pending deliveries when it is deleted', async () => {
    const { acct, e, later } = await endpointWithLaterDelivery();
    expect((await api('DELETE', `/api/webhooks/${e.id}`, acct.token)).status).toBe(200);
    expect(await deliveryRow(env.ctx, later)).toMatchObject({
      status: 'failed',
      attempts: 0,
      next_attempt_at: null,
      last_error: 'endpoint deleted',
    });
  });

  it('re-queues a delivery whose job was lost', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    const id = newId('whd');
    await insertWebhookDeliveries(
      env.ctx.sql,
      {
        accountId: acct.id,
        type: 'job.failed',
        payload: { type: 'job.failed' },
        at: new Date(Date.now() - 600_000),
      },
      [{ id, endpointId: e.id, url: receiver.base + e.path }],
    );
    expect(await resumeStalledDeliveries(env.ctx, queues, { graceMs: 60_000 })).toBeGreaterThanOrEqual(1);
    expect(await settledRow(env.ctx, id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(receiver.at(e.path)).toHaveLength(1);
  });
});

describe('per-job webhook_url deliveries', () => {
  it('are signed with the account’s own default secret when it has no endpoint', async () => {
    const acct = await createTestAccount(env.ctx);
    const path = newPath();
    // The owner fetches the secret first, as a receiver would be configured before jobs run.
    const { body } = await api('GET', '/api/webhooks/default-secret', acct.token);
    receiver.expectSecret(path, body.secret);
    const [id] = await emitEvent(env.ctx, queues, {
      accountId: acct.id,
      type: 'job.succeeded',
      data: { id: 'job_9' },
      url: receiver.base + path,
    });
    expect(await settledRow(env.ctx, id!)).toMatchObject({ status: 'succeeded', endpoint_id: null });
    expect(receiver.at(path)).toHaveLength(1);
    expect(receiver.at(path)[0]!.headers['webhook-id']).toBe(id);
  });

  it('are signed with the account’s own secret, never an endpoint’s, however endpoints change', async () => {
    const acct = await createTestAccount(env.ctx);
    const { body } = await api('GET', '/api/webhooks/default-secret', acct.token);
    const e = await register(acct, ['batch.completed']);
    await api('DELETE', `/api/webhooks/${e.id}`, acct.token);
    const later = await register(acct, ['batch.completed']);
    const path = newPath();
    receiver.expectSecret(path, body.secret);
    const ids = await emitEvent(env.ctx, queues, {
      accountId: acct.id,
      type: 'job.succeeded',
      data: {},
      url: receiver.base + path,
    });
    expect(ids).toHaveLength(1); // the endpoint is not subscribed to job.succeeded
    expect(await settledRow(env.ctx, ids[0]!)).toMatchObject({ status: 'succeeded' });
    expect(receiver.at(path)).toHaveLength(1);
    expect([e.secret, later.secret]).not.toContain(body.secret);
  });
});

describe('the SSRF guard at delivery time (WEBHOOK_ALLOW_PRIVATE_NETWORKS=false)', () => {
  let acct: TestAccount;
  beforeAll(async () => {
    acct = await createTestAccount(strict.ctx);
  });

  it.each([
    ['a loopback literal', (port: number) => `https://127.0.0.1:${port}/x`, /loopback/],
    ['a name resolving to loopback', (port: number) => `https://localhost:${port}/x`, /loopback/],
    ['an IPv4-mapped private literal', (port: number) => `https://[::ffff:10.0.0.1]:${port}/x`, /private/],
    ['plain http', (port: number) => `http://127.0.0.1:${port}/x`, /http: URLs are not delivered to/],
  ])('refuses a per-job url to %s without retrying', async (_what, url, error) => {
    const before = receiver.received.length;
    const [id] = await emitEvent(strict.ctx, strictQueues, {
      accountId: acct.id,
      type: 'job.succeeded',
      data: {},
      url: url(receiver.port),
    });
    const row = await settledRow(strict.ctx, id!);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, last_status_code: null });
    expect(row.last_error).toMatch(error);
    expect(row.last_error).not.toMatch(/10\.0\.0\.1 \(|127\.0\.0\.1 \(/);
    expect(receiver.received.length).toBe(before);
  });

  it('re-checks a registered endpoint’s address on every attempt', async () => {
    // Registered while its name resolved publicly; it now resolves to loopback (DNS rebinding).
    const endpoint = await insertWebhookEndpoint(strict.ctx.sql, {
      id: newId('whe'),
      accountId: acct.id,
      url: `https://localhost:${receiver.port}/rebound`,
      events: ['*'],
      secret: newWebhookSecret(),
      createdAt: new Date(),
    });
    const [id] = await emitEvent(strict.ctx, strictQueues, {
      accountId: acct.id,
      type: 'job.failed',
      data: {},
    });
    const row = await settledRow(strict.ctx, id!);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, endpoint_id: endpoint.id });
    expect(row.last_error).toMatch(/localhost resolves to a loopback address/);
    expect(receiver.at('/rebound')).toHaveLength(0);
  });
});
