import { describe, expect, it } from 'vitest';
import { createCustomer } from '../helpers/customer.js';
import { call, useTestServer } from '../helpers/http.js';

/**
 * A `gm-` or `gc-` key on the owner's /api routes: a live one is out of place (403), a dead or
 * unknown one is refused as such (401 with its code), judged as admission judges it on /v1.
 */
const t = useTestServer();

describe('API keys on owner routes', () => {
  it('refuses live gm- and gc- keys on owner routes with 403, and dead or unknown ones with 401', async () => {
    const c = await createCustomer(t.env.ctx, t.server.url);
    for (const token of [c.mkKey, c.childKey]) {
      const res = await call(t.server.url, 'GET', '/api/account', { token });
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe('permission_error');
    }
    for (const token of ['gm-abcdefghijklmnopqrstuvwxyz', 'gc-abcdefghijklmnopqrstuvwxyz']) {
      const res = await call(t.server.url, 'GET', '/api/account', { token });
      expect(res.status).toBe(401);
      expect(res.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_unknown' });
    }
    // A key that stopped working is refused as such, not as one in the wrong place.
    const child = `/api/management/keys/${c.mkId}/children/${c.childId}`;
    expect(
      (await call(t.server.url, 'PATCH', child, { token: c.jwt, body: { status: 'disabled' } })).status,
    ).toBe(200);
    const disabled = await call(t.server.url, 'GET', '/api/account', { token: c.childKey });
    expect(disabled.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_disabled' });
    expect(
      (await call(t.server.url, 'DELETE', `/api/management/keys/${c.mkId}`, { token: c.jwt })).status,
    ).toBe(200);
    for (const token of [c.mkKey, c.childKey]) {
      const res = await call(t.server.url, 'GET', '/api/account', { token });
      expect(res.status).toBe(401);
      expect(res.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_revoked' });
    }
  });

  it('judges a child key secret replaced by a rotation on owner routes as /v1 does', async () => {
    const c = await createCustomer(t.env.ctx, t.server.url);
    const rotate = (grace: number) =>
      call(t.server.url, 'POST', `/api/management/keys/${c.mkId}/children/${c.childId}/rotate`, {
        token: c.jwt,
        body: { grace_period_seconds: grace },
      });
    const asOwner = (token: string) => call(t.server.url, 'GET', '/api/account', { token });

    // Within its grace the old secret still works on /v1 (key-checks.lua): a live key out of place, so 403.
    const first = await rotate(3600);
    expect(first.status).toBe(200);
    expect((await asOwner(c.childKey)).body.error.type).toBe('permission_error');
    // Replaced again without a grace: that secret is revoked, as /v1 says too.
    const second = await rotate(0);
    expect(second.status).toBe(200);
    const old = await asOwner(first.body.key);
    expect([old.status, old.body.error]).toMatchObject([
      401,
      { type: 'invalid_api_key', code: 'key_revoked' },
    ]);
    expect((await asOwner(second.body.key)).status).toBe(403);
  });
});
