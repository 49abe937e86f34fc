import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

// MANAGEMENT_KEYS_MAX and CHILD_KEYS_MAX, small here: keys cost nothing to make, even unfunded.
let env: TestEnv;
let server: TestServer;

beforeAll(async () => {
  env = await createTestEnv({ env: { MANAGEMENT_KEYS_MAX: '2', CHILD_KEYS_MAX: '2' } });
  server = await startTestServer(env.ctx);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const api = (method: string, path: string, token: string, body?: unknown) =>
  call(server.url, method, path, { token, body });

describe('key caps', () => {
  it('refuses management keys past the cap, even made at once, and counts no revoked one', async () => {
    const acct = await createTestAccount(env.ctx);
    const made = await Promise.all(
      Array.from({ length: 5 }, (_, i) => api('POST', '/api/management/keys', acct.token, { name: `k${i}` })),
    );
    expect(made.map((r) => r.status).sort()).toEqual([201, 201, 400, 400, 400]);
    const refused = made.find((r) => r.status === 400)!;
    expect(refused.body.error.message).toMatch(/at most 2 management keys/);
    const first = made.find((r) => r.status === 201)!;
    expect((await api('DELETE', `/api/management/keys/${first.body.id}`, acct.token)).status).toBe(200);
    expect((await api('POST', '/api/management/keys', acct.token, { name: 'again' })).status).toBe(201);
  });

  it('refuses child keys past the cap per management key, and counts no deleted one', async () => {
    const acct = await createTestAccount(env.ctx);
    const mk = (await api('POST', '/api/management/keys', acct.token, { name: 'saas' })).body;
    const children = `/api/management/keys/${mk.id}/children`;
    const made = await Promise.all(
      Array.from({ length: 4 }, (_, i) => api('POST', children, mk.key, { name: `c${i}` })),
    );
    expect(made.map((r) => r.status).sort()).toEqual([201, 201, 400, 400]);
    expect(made.find((r) => r.status === 400)!.body.error.message).toMatch(/at most 2 child keys/);
    const child = made.find((r) => r.status === 201)!;
    expect((await api('DELETE', `${children}/${child.body.id}`, mk.key)).status).toBe(200);
    expect((await api('POST', children, mk.key, { name: 'again' })).status).toBe(201);
    // Another management key of the account has its own.
    const other = (await api('POST', '/api/management/keys', acct.token, { name: 'other' })).body;
    expect(
      (await api('POST', `/api/management/keys/${other.id}/children`, other.key, { name: 'x' })).status,
    ).toBe(201);
  });
});
