import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createQueues, type Queues } from '../../shared/queues.js';
import { emitEvent } from '../../shared/webhooks/emit.js';
import { startWorkers } from '../../workers/index.js';
import { createTestAccount, type TestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { deliveryRow, newPath, queuedLater } from '../helpers/webhook-deliveries.js';
import { type Received, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

// PATCH /api/webhooks/:id (turning an endpoint off and on, changing its url or events) and secret
// rotation, with real workers delivering to a receiver that verifies with standardwebhooks.
let env: TestEnv;
let server: TestServer;
let queues: Queues;
let receiver: WebhookReceiver;
let stopWorkers: () => Promise<void>;

beforeAll(async () => {
  env = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  server = await startTestServer(env.ctx);
  receiver = await startWebhookReceiver();
  queues = createQueues(env.ctx);
  stopWorkers = startWorkers(env.ctx, { webhooks: { schedule: [50, 50], timeoutMs: 500 } });
});
afterEach(() => {
  const unverified = receiver.received.filter((r) => !r.verified);
  receiver.received.splice(0);
  expect(unverified).toEqual([]);
});
afterAll(async () => {
  await stopWorkers?.();
  await queues?.close();
  await receiver?.close();
  await server?.close();
  await env?.close();
});

const api = (method: string, path: string, token: string, body?: unknown) =>
  call(server.url, method, path, { token, body });

async function register(acct: TestAccount, events: string[] = ['*']) {
  const path = newPath();
  const res = await api('POST', '/api/webhooks', acct.token, { url: receiver.base + path, events });
  expect(res.status).toBe(201);
  receiver.expectSecret(path, res.body.secret);
  return { id: res.body.id as string, secret: res.body.secret as string, path };
}

const emit = (acct: TestAccount, url?: string) =>
  emitEvent(env.ctx, queues, {
    accountId: acct.id,
    type: 'job.succeeded',
    data: { id: 'job_1' },
    ...(url ? { url } : {}),
  });

const delivered = (path: string, n = 1) =>
  waitFor(`${n} deliveries to ${path}`, () => {
    const got = receiver.at(path);
    return got.length >= n ? got : null;
  });

/** Whether `secret` verifies this delivery as a receiver holding it would. */
function verifiesWith(r: Received, secret: string): boolean {
  try {
    new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

describe('PATCH /api/webhooks/:id', () => {
  it('turns an endpoint a 410 disabled back on, and it receives the next event', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    receiver.plan(e.path, [410]);
    await emit(acct);
    await waitFor('the 410 to disable the endpoint', async () => {
      const { body } = await api('GET', '/api/webhooks', acct.token);
      return body.data[0].status === 'disabled' ? true : null;
    });
    expect(await emit(acct)).toEqual([]);

    const on = await api('PATCH', `/api/webhooks/${e.id}`, acct.token, { status: 'active' });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ id: e.id, status: 'active', disabled_reason: null });
    const [id] = await emit(acct);
    expect(id).toBeDefined();
    await delivered(e.path, 2);
    await waitFor('the delivery to succeed', async () =>
      (await deliveryRow(env.ctx, id!)).status === 'succeeded' ? true : null,
    );
  });

  it('turning an endpoint off ends its pending deliveries and stops new ones', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    const later = await queuedLater(
      env.ctx,
      acct.id,
      e.id,
      receiver.base + e.path,
      new Date(Date.now() + 3_600_000),
    );
    const off = await api('PATCH', `/api/webhooks/${e.id}`, acct.token, { status: 'disabled' });
    expect(off.status).toBe(200);
    expect(off.body.status).toBe('disabled');
    expect(off.body.disabled_reason).toMatch(/^disabled by the owner at /);
    expect(await deliveryRow(env.ctx, later)).toMatchObject({
      status: 'disabled',
      last_error: 'endpoint disabled',
      next_attempt_at: null,
    });
    expect(await emit(acct)).toEqual([]);
    // Again: nothing changes, the first reason stays.
    const again = await api('PATCH', `/api/webhooks/${e.id}`, acct.token, { status: 'disabled' });
    expect(again.body.disabled_reason).toBe(off.body.disabled_reason);
  });

  it('moves the pending retries of an endpoint whose url changed to the new url', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    receiver.plan(e.path, [500, 500, 500]);
    const [id] = await emit(acct);
    await delivered(e.path); // its first attempt failed
    const path = newPath();
    receiver.expectSecret(path, e.secret);
    expect(
      (await api('PATCH', `/api/webhooks/${e.id}`, acct.token, { url: receiver.base + path })).status,
    ).toBe(200);
    await delivered(path);
    await waitFor('the delivery to succeed', async () =>
      (await deliveryRow(env.ctx, id!)).status === 'succeeded' ? true : null,
    );
  });

  it('changes the url and the events', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct, ['job.failed']);
    expect(await emit(acct)).toEqual([]);
    const path = newPath();
    receiver.expectSecret(path, e.secret);
    const res = await api('PATCH', `/api/webhooks/${e.id}`, acct.token, {
      url: receiver.base + path,
      events: ['job.succeeded', 'job.succeeded'],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      url: receiver.base + path,
      events: ['job.succeeded'],
      status: 'active',
    });
    await emit(acct);
    await delivered(path);
    expect(receiver.at(e.path)).toEqual([]);
  });

  it('refuses bad changes with a 400 naming the field, others’ endpoints with 404, deleted ones with 409', async () => {
    const acct = await createTestAccount(env.ctx);
    const other = await createTestAccount(env.ctx);
    const e = await register(acct);
    const patch = (body: unknown, token = acct.token) => api('PATCH', `/api/webhooks/${e.id}`, token, body);

    const empty = await patch({});
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/at least one of url, events, status/);
    expect((await patch({ url: 'ftp://example.com/x' })).body.error.param).toBe('url');
    expect((await patch({ events: [] })).body.error.param).toBe('events');
    expect((await patch({ status: 'paused' })).body.error.param).toBe('status');
    expect((await patch({ secret: 'whsec_x' })).body.error.param).toBe('secret');
    expect((await patch({ status: 'active' }, other.token)).status).toBe(404);

    expect((await api('DELETE', `/api/webhooks/${e.id}`, acct.token)).status).toBe(200);
    const gone = await patch({ status: 'active' });
    expect(gone.status).toBe(409);
    expect(gone.body.error.type).toBe('conflict');
    expect((await api('POST', `/api/webhooks/${e.id}/rotate-secret`, acct.token)).status).toBe(409);
  });
});

describe('secret rotation', () => {
  it('signs with the new and the old secret through the grace, so a receiver with either verifies', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct); // the receiver still holds the old secret
    const before = Date.now();
    const rot = await api('POST', `/api/webhooks/${e.id}/rotate-secret`, acct.token);
    expect(rot.status).toBe(200);
    expect(rot.body.secret).toMatch(/^whsec_/);
    expect(rot.body.secret).not.toBe(e.secret);
    const until = Date.parse(rot.body.previous_secret_expires_at);
    expect(until - before).toBeGreaterThanOrEqual(86_400_000 - 1000);
    expect(until - before).toBeLessThanOrEqual(86_400_000 + 60_000);
    const { body } = await api('GET', '/api/webhooks', acct.token);
    expect(body.data[0].previous_secret_expires_at).toBe(rot.body.previous_secret_expires_at);
    expect(JSON.stringify(body)).not.toContain(rot.body.secret);

    await emit(acct);
    const [got] = await delivered(e.path);
    expect(String(got!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifiesWith(got!, e.secret)).toBe(true);
    expect(verifiesWith(got!, rot.body.secret)).toBe(true);
  });

  it('refuses a second rotation while the first one’s grace runs, unless it ends every older secret', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    const rotate = (body?: unknown) => api('POST', `/api/webhooks/${e.id}/rotate-secret`, acct.token, body);
    const first = await rotate();
    expect(first.status).toBe(200);
    const again = await rotate();
    expect([again.status, again.body.error.type]).toEqual([409, 'conflict']);
    expect(again.body.error.message).toContain(first.body.previous_secret_expires_at);
    // The receiver's secret (the first) still verifies: nothing changed.
    await emit(acct);
    const [got] = await delivered(e.path);
    expect(verifiesWith(got!, e.secret)).toBe(true);
    expect(verifiesWith(got!, first.body.secret)).toBe(true);
    // With no grace it goes through, and only the newest signs.
    const now = await rotate({ grace_period_seconds: 0 });
    expect([now.status, now.body.previous_secret_expires_at]).toEqual([200, null]);
    receiver.expectSecret(e.path, now.body.secret);
  });

  it('with grace_period_seconds 0 the old secret stops signing at once', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await register(acct);
    const rot = await api('POST', `/api/webhooks/${e.id}/rotate-secret`, acct.token, {
      grace_period_seconds: 0,
    });
    expect(rot.body.previous_secret_expires_at).toBeNull();
    receiver.expectSecret(e.path, rot.body.secret);
    await emit(acct);
    const [got] = await delivered(e.path);
    expect(String(got!.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifiesWith(got!, e.secret)).toBe(false);

    for (const grace of [-1, 1.5, 7 * 86_400 + 1, '60'])
      expect(
        (
          await api('POST', `/api/webhooks/${e.id}/rotate-secret`, acct.token, {
            grace_period_seconds: grace,
          })
        ).body.error.param,
      ).toBe('grace_period_seconds');
  });

  it('gives a default secret nobody was shown no grace on its first rotation', async () => {
    const acct = await createTestAccount(env.ctx);
    const rot = await api('POST', '/api/webhooks/default-secret/rotate', acct.token);
    expect(rot.status).toBe(200);
    expect(rot.body.previous_secret_expires_at).toBeNull();
  });

  it('rotates the default secret that signs per-job webhook_url deliveries', async () => {
    const acct = await createTestAccount(env.ctx);
    const first = await api('GET', '/api/webhooks/default-secret', acct.token);
    expect(first.body).toEqual({
      secret: expect.stringMatching(/^whsec_/),
      previous_secret_expires_at: null,
    });

    const rot = await api('POST', '/api/webhooks/default-secret/rotate', acct.token, {
      grace_period_seconds: 3600,
    });
    expect(rot.status).toBe(200);
    expect(rot.body.secret).not.toBe(first.body.secret);
    expect(rot.body.previous_secret_expires_at).not.toBeNull();
    expect((await api('GET', '/api/webhooks/default-secret', acct.token)).body).toEqual(rot.body);

    const path = newPath();
    receiver.expectSecret(path, first.body.secret);
    await emit(acct, receiver.base + path);
    const [got] = await delivered(path);
    expect(verifiesWith(got!, rot.body.secret)).toBe(true);

    const now = await api('POST', '/api/webhooks/default-secret/rotate', acct.token, {
      grace_period_seconds: 0,
    });
    const path2 = newPath();
    receiver.expectSecret(path2, now.body.secret);
    await emit(acct, receiver.base + path2);
    const [got2] = await delivered(path2);
    expect(verifiesWith(got2!, rot.body.secret)).toBe(false);
  });
});
