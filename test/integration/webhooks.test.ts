import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { createTestAccount, type TestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';
import { endpointWithLog } from '../helpers/webhook-deliveries.js';

// Routes of /api/webhooks. Deliveries (signing, retries, 410, the SSRF guard at send time) are in
// webhook-deliveries.test.ts. Nothing is delivered here, so a manual clock can order creations.
const clock = new ManualClock('2026-11-26T12:00:00.000Z');
let env: TestEnv;
let server: TestServer;
let strictEnv: TestEnv;
let strictServer: TestServer;
let alice: TestAccount;
let bob: TestAccount;

beforeAll(async () => {
  // The receiver of local tests listens on 127.0.0.1, which only this setting lets through.
  env = await createTestEnv({ clock, env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  server = await startTestServer(env.ctx);
  strictEnv = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' } });
  strictServer = await startTestServer(strictEnv.ctx);
  alice = await createTestAccount(env.ctx);
  bob = await createTestAccount(env.ctx);
});
afterAll(async () => {
  await server?.close();
  await strictServer?.close();
  await env?.close();
  await strictEnv?.close();
});

const api = (method: string, path: string, token?: string, body?: unknown) =>
  call(server.url, method, path, { token, body });
const URL_OK = 'http://127.0.0.1:9/hooks';

async function createEndpoint(token = alice.token, events: string[] = ['job.succeeded']) {
  clock.advance(1000);
  const res = await api('POST', '/api/webhooks', token, { url: URL_OK, events });
  expect(res.status).toBe(201);
  return res.body as { id: string; secret: string; events: string[] };
}

describe('webhooks: happy path', () => {
  it('registers an endpoint and shows its whsec_ secret once', async () => {
    const res = await api('POST', '/api/webhooks', alice.token, {
      url: URL_OK,
      events: ['job.succeeded', 'batch.failed', 'job.succeeded'],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      url: URL_OK,
      events: ['job.succeeded', 'batch.failed'],
      status: 'active',
      disabled_reason: null,
      deleted_at: null,
    });
    expect(res.body.id).toMatch(/^whe_/);
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(res.body.created_at).toBe(clock.now().toISOString());

    const list = await api('GET', '/api/webhooks', alice.token);
    expect(list.status).toBe(200);
    const mine = list.body.data.find((e: { id: string }) => e.id === res.body.id);
    expect(mine).toEqual({ ...res.body, secret: undefined });
    expect(JSON.stringify(list.body)).not.toContain(res.body.secret);
  });

  it('accepts "*" for every event, standing alone', async () => {
    const e = await createEndpoint(alice.token, ['job.failed', '*']);
    expect(e.events).toEqual(['*']);
  });

  it('lists newest first and soft-deletes (idempotently)', async () => {
    const acct = await createTestAccount(env.ctx);
    const first = await createEndpoint(acct.token);
    const second = await createEndpoint(acct.token);
    const list = await api('GET', '/api/webhooks', acct.token);
    expect(list.body.data.map((e: { id: string }) => e.id)).toEqual([second.id, first.id]);

    const del = await api('DELETE', `/api/webhooks/${first.id}`, acct.token);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: first.id, status: 'deleted' });
    expect(del.body.deleted_at).toEqual(expect.any(String));
    expect(del.body).not.toHaveProperty('secret');
    const again = await api('DELETE', `/api/webhooks/${first.id}`, acct.token);
    expect(again.body).toEqual(del.body);
    const after = await api('GET', '/api/webhooks', acct.token);
    expect(after.body.data.map((e: { id: string }) => e.id)).toEqual([second.id]);
    // A deleted endpoint and its log stay readable.
    expect((await api('GET', `/api/webhooks/${first.id}/deliveries`, acct.token)).status).toBe(200);
    expect((await api('GET', `/api/webhooks/${first.id}`, acct.token)).body).toEqual(del.body);
    const live = await api('GET', `/api/webhooks/${second.id}`, acct.token);
    expect(live.body).toEqual(list.body.data[0]);
  });

  it('serves the default secret: the account’s own, whatever its endpoints do', async () => {
    const acct = await createTestAccount(env.ctx);
    const own = await api('GET', '/api/webhooks/default-secret', acct.token);
    expect(own.status).toBe(200);
    expect(own.body).toEqual({ secret: expect.stringMatching(/^whsec_/), previous_secret_expires_at: null });
    expect((await api('GET', '/api/webhooks/default-secret', acct.token)).body).toEqual(own.body);

    // Endpoints come and go; the secret job hooks are signed with stays, and is none of theirs.
    const first = await createEndpoint(acct.token);
    const second = await createEndpoint(acct.token);
    await api('DELETE', `/api/webhooks/${first.id}`, acct.token);
    const after = await api('GET', '/api/webhooks/default-secret', acct.token);
    expect(after.body).toEqual(own.body);
    expect([first.secret, second.secret]).not.toContain(own.body.secret);
  });

  it('lists an endpoint’s deliveries (empty at first)', async () => {
    const e = await createEndpoint();
    const res = await api('GET', `/api/webhooks/${e.id}/deliveries?limit=100`, alice.token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });

  it.each([
    ['an endpoint’s log', (e: { id: string }) => `/api/webhooks/${e.id}/deliveries`, 'ids'],
    ['the log of job webhook URLs', () => '/api/webhooks/job-deliveries', 'jobIds'],
  ] as const)('pages %s with `after` until has_more is false', async (_what, path, which) => {
    const acct = await createTestAccount(env.ctx);
    const log = await endpointWithLog(env.ctx, acct.id, 25);
    const seen: string[] = [];
    const pages: boolean[] = [];
    let after: string | null = null;
    do {
      const q: string = after ? `?limit=10&after=${after}` : '?limit=10';
      const res = await api('GET', `${path(log.endpoint)}${q}`, acct.token);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ object: 'list', first_id: res.body.data[0].id });
      seen.push(...res.body.data.map((d: { id: string }) => d.id));
      pages.push(res.body.has_more);
      after = res.body.has_more ? res.body.last_id : null;
      expect(res.body.last_id).toBe(seen.at(-1));
    } while (after);
    expect(pages).toEqual([true, true, false]);
    expect(seen).toEqual(log[which]);
    // The default page is 20 and says more follow.
    const first = await api('GET', path(log.endpoint), acct.token);
    expect(first.body.data).toHaveLength(20);
    expect(first.body.has_more).toBe(true);
  });

  it('refuses an `after` that is no delivery of the log, rather than answer its end', async () => {
    const acct = await createTestAccount(env.ctx);
    const mine = await endpointWithLog(env.ctx, acct.id, 2);
    const other = await endpointWithLog(env.ctx, acct.id, 2);
    const bobs = await endpointWithLog(env.ctx, bob.id, 2);
    for (const [path, after] of [
      [`/api/webhooks/${mine.endpoint.id}/deliveries`, other.ids[0]],
      [`/api/webhooks/${mine.endpoint.id}/deliveries`, mine.jobIds[0]],
      [`/api/webhooks/${mine.endpoint.id}/deliveries`, 'whd_nope'],
      ['/api/webhooks/job-deliveries', mine.ids[0]],
      ['/api/webhooks/job-deliveries', bobs.jobIds[0]],
    ]) {
      const res = await api('GET', `${path}?after=${after}`, acct.token);
      expect(res.status, `${path} after ${after}`).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'after' });
    }
    // The log's own oldest delivery is its end: an empty last page.
    const end = await api(
      'GET',
      `/api/webhooks/${mine.endpoint.id}/deliveries?after=${mine.ids[1]}`,
      acct.token,
    );
    expect(end.body).toMatchObject({ data: [], has_more: false });
  });
});

describe('webhooks: validation errors', () => {
  const invalid = async (body: unknown, param: string, base = server.url) => {
    const res = await call(base, 'POST', '/api/webhooks', { token: alice.token, body });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  };

  it.each([
    [{ events: ['job.failed'] }, 'url'],
    [{ url: 'not a url', events: ['job.failed'] }, 'url'],
    [{ url: 'ftp://127.0.0.1/x', events: ['job.failed'] }, 'url'],
    [{ url: 'http://user:pw@127.0.0.1/x', events: ['job.failed'] }, 'url'],
    [{ url: `http://127.0.0.1/${'a'.repeat(2000)}`, events: ['job.failed'] }, 'url'],
    [{ url: 42, events: ['job.failed'] }, 'url'],
    [{ url: URL_OK }, 'events'],
    [{ url: URL_OK, events: [] }, 'events'],
    [{ url: URL_OK, events: 'job.failed' }, 'events'],
    [{ url: URL_OK, events: ['job.failed', 'job.exploded'] }, 'events.1'],
    [{ url: URL_OK, events: ['job.failed'], secret: 'whsec_mine' }, 'secret'],
  ])('refuses %j (param %s)', async (body, param) => {
    await invalid(body, param);
  });

  it('refuses a host that does not resolve', async () => {
    await invalid({ url: 'https://no-such-host.invalid/x', events: ['*'] }, 'url');
  });

  it.each(['0', '101', 'abc', '1.5'])('refuses deliveries limit=%s', async (limit) => {
    const e = await createEndpoint();
    const res = await api('GET', `/api/webhooks/${e.id}/deliveries?limit=${limit}`, alice.token);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'limit' });
  });

  describe('with WEBHOOK_ALLOW_PRIVATE_NETWORKS=false', () => {
    let token: string;
    beforeAll(async () => {
      token = (await createTestAccount(strictEnv.ctx)).token;
    });
    const refused = async (url: string, message: RegExp) => {
      const res = await call(strictServer.url, 'POST', '/api/webhooks', {
        token,
        body: { url, events: ['*'] },
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'url' });
      expect(res.body.error.message).toMatch(message);
    };

    it('refuses plain http', () => refused('http://127.0.0.1/hooks', /must use https/));
    it('refuses a loopback literal', () => refused('https://127.0.0.1/hooks', /loopback/));
    it('refuses an IPv6 loopback literal', () => refused('https://[::1]/hooks', /loopback/));
    it('refuses an IPv4-mapped private literal', () => refused('https://[::ffff:10.0.0.1]/x', /private/));
    // A name resolving to a private address reads as one that does not resolve: no map of internal names.
    it('refuses a name resolving to a private address', () =>
      refused('https://localhost/x', /^url: the host localhost does not resolve to a public address$/));
    it('refuses a name that does not resolve, in the same words', () =>
      refused(
        'https://no-such-host.invalid/x',
        /^url: the host no-such-host.invalid does not resolve to a public address$/,
      ));
    it('refuses cloud metadata', () => refused('https://169.254.169.254/latest', /link-local/));
  });
});

describe('webhooks: at most WEBHOOK_MAX_ENDPOINTS (16) per account', () => {
  const create = (token: string) => api('POST', '/api/webhooks', token, { url: URL_OK, events: ['*'] });

  it('refuses one more than the cap with a 400, and counts no deleted endpoint', async () => {
    const acct = await createTestAccount(env.ctx);
    const ids: string[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await create(acct.token);
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const over = await create(acct.token);
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({ type: 'invalid_request_error', param: null });
    expect(over.body.error.message).toMatch(/at most 16 webhook endpoints/);
    expect((await api('GET', '/api/webhooks', acct.token)).body.data).toHaveLength(16);

    await api('DELETE', `/api/webhooks/${ids[0]}`, acct.token);
    expect((await create(acct.token)).status).toBe(201);
    expect((await create(acct.token)).status).toBe(400);
    // Another account's endpoints are its own affair.
    expect((await create(bob.token)).status).toBe(201);
  });

  it('holds under concurrent creation', async () => {
    const acct = await createTestAccount(env.ctx);
    const statuses = await Promise.all(
      Array.from({ length: 24 }, () => create(acct.token).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(16);
    expect(statuses.filter((s) => s === 400)).toHaveLength(8);
  });
});

describe('webhooks: security', () => {
  it('requires the owner JWT on every route', async () => {
    const e = await createEndpoint();
    const routes: [string, string][] = [
      ['POST', '/api/webhooks'],
      ['GET', '/api/webhooks'],
      ['GET', '/api/webhooks/default-secret'],
      ['DELETE', `/api/webhooks/${e.id}`],
      ['GET', `/api/webhooks/${e.id}/deliveries`],
      ['PATCH', `/api/webhooks/${e.id}`],
      ['POST', `/api/webhooks/${e.id}/rotate-secret`],
      ['POST', '/api/webhooks/default-secret/rotate'],
    ];
    for (const [method, path] of routes) {
      const none = await api(
        method,
        path,
        undefined,
        method === 'POST' ? { url: URL_OK, events: ['*'] } : undefined,
      );
      expect(none.status, `${method} ${path}`).toBe(401);
      expect((await api(method, path, 'not-a-jwt')).status).toBe(401);
      // Keys that are none of ours: 401 (live keys in the wrong place are 403: auth.test.ts).
      for (const token of ['gm-whatever', 'gc-whatever']) {
        const res = await api(method, path, token);
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('key_unknown');
      }
    }
  });

  it('answers 404 for another account’s endpoint and leaves it alone', async () => {
    const e = await createEndpoint(alice.token);
    for (const [method, path] of [
      ['GET', `/api/webhooks/${e.id}`],
      ['DELETE', `/api/webhooks/${e.id}`],
      ['GET', `/api/webhooks/${e.id}/deliveries`],
    ] as const) {
      const res = await api(method, path, bob.token);
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
    expect((await api('DELETE', '/api/webhooks/whe_unknown', alice.token)).status).toBe(404);
    const list = await api('GET', '/api/webhooks', bob.token);
    expect(list.body.data.map((x: { id: string }) => x.id)).not.toContain(e.id);
    const still = await api('GET', '/api/webhooks', alice.token);
    expect(still.body.data.find((x: { id: string }) => x.id === e.id)?.deleted_at).toBeNull();
  });

  it('never hands one account another account’s default secret', async () => {
    await createEndpoint(alice.token);
    const a = await api('GET', '/api/webhooks/default-secret', alice.token);
    const b = await api('GET', '/api/webhooks/default-secret', bob.token);
    expect(a.body.secret).not.toBe(b.body.secret);
  });

  it('is in the OpenAPI document', async () => {
    const doc = await api('GET', '/openapi.json');
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/webhooks',
        '/api/webhooks/default-secret',
        '/api/webhooks/{id}',
        '/api/webhooks/{id}/deliveries',
        '/api/webhooks/{id}/rotate-secret',
        '/api/webhooks/default-secret/rotate',
      ]),
    );
  });
});
