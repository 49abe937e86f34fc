import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { createTestAccount, type TestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

const clock = new ManualClock('2026-11-26T12:00:00.000Z');
let env: TestEnv;
let server: TestServer;
let alice: TestAccount;
let bob: TestAccount;

beforeAll(async () => {
  env = await createTestEnv({ clock });
  server = await startTestServer(env.ctx);
  alice = await createTestAccount(env.ctx);
  bob = await createTestAccount(env.ctx);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const api = (method: string, path: string, token?: string, body?: unknown) =>
  call(server.url, method, path, { token, body });

async function createMk(token = alice.token, name = 'My SaaS') {
  const res = await api('POST', '/api/management/keys', token, { name });
  expect(res.status).toBe(201);
  return res.body as { id: string; key: string; key_prefix: string };
}

const mkState = (accountId: string, id: string) =>
  env.ctx.redis.hgetall(env.ctx.keys.managementKey(accountId, id));

describe('management keys: happy path', () => {
  it('takes any visible name: other scripts, emoji, a zero-width joiner inside an emoji', async () => {
    for (const name of ['客户 Ünïcødé', 'مفتاح العميل', 'Team 👩\u200D💻', 'Café\u0301', '🇫🇷 ❤\uFE0F']) {
      const res = await api('POST', '/api/management/keys', alice.token, { name });
      expect([res.status, res.body.name]).toEqual([201, name]);
    }
  });

  it('creates a key and shows the gm- secret once', async () => {
    const res = await api('POST', '/api/management/keys', alice.token, { name: '  My SaaS  ' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'My SaaS',
      status: 'active',
      children_count: 0,
      last_used_at: null,
    });
    expect(res.body.id).toMatch(/^mk_/);
    expect(res.body.key).toMatch(/^gm-[\w-]{43}$/);
    expect(res.body.key_prefix).toBe(`${res.body.key.slice(0, 6)}…${res.body.key.slice(-4)}`);
    expect(res.body.created_at).toBe(clock.now().toISOString());

    const one = await api('GET', `/api/management/keys/${res.body.id}`, alice.token);
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty('key');
    const list = await api('GET', '/api/management/keys', alice.token);
    expect(JSON.stringify(list.body)).not.toContain(res.body.key);
    expect(list.body.data.map((k: { id: string }) => k.id)).toContain(res.body.id);
  });

  it('stores only the SHA-256 of the key', async () => {
    const mk = await createMk();
    const [row] = await env.ctx.sql`select key_hash from management_keys where id = ${mk.id}`;
    expect(Buffer.from(row!.key_hash).equals(createHash('sha256').update(mk.key).digest())).toBe(true);
  });

  it('lists newest first with children_count that excludes deleted children', async () => {
    const acct = await createTestAccount(env.ctx);
    const first = await createMk(acct.token, 'first');
    clock.advance(1000);
    const second = await createMk(acct.token, 'second');
    const kids = [];
    for (const name of ['a', 'b', 'c']) {
      const c = await api('POST', `/api/management/keys/${second.id}/children`, acct.token, { name });
      kids.push(c.body.id as string);
    }
    await api('DELETE', `/api/management/keys/${second.id}/children/${kids[0]}`, acct.token);
    const list = await api('GET', '/api/management/keys', acct.token);
    expect(list.status).toBe(200);
    expect(list.body.data.map((k: { name: string }) => k.name)).toEqual(['second', 'first']);
    expect(list.body.data[0]).toEqual({
      id: second.id,
      name: 'second',
      key_prefix: second.key_prefix,
      status: 'active',
      children_count: 2,
      created_at: expect.any(String),
      last_used_at: null,
      revoked_at: null,
      previous_key_expires_at: null,
    });
    expect(list.body.data[1].children_count).toBe(0);
    expect((await api('GET', `/api/management/keys/${first.id}`, acct.token)).body.children_count).toBe(0);
  });

  it('renames, disables and re-enables, publishing each state with a higher version', async () => {
    const mk = await createMk();
    expect(await mkState(alice.id, mk.id)).toMatchObject({ st: 'active', v: '1' });
    const renamed = await api('PATCH', `/api/management/keys/${mk.id}`, alice.token, { name: 'Renamed' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ id: mk.id, name: 'Renamed', status: 'active' });
    const disabled = await api('PATCH', `/api/management/keys/${mk.id}`, alice.token, { status: 'disabled' });
    expect(disabled.body).toMatchObject({ name: 'Renamed', status: 'disabled' });
    expect(await mkState(alice.id, mk.id)).toMatchObject({ st: 'disabled', v: '3' });
    const enabled = await api('PATCH', `/api/management/keys/${mk.id}`, alice.token, { status: 'active' });
    expect(enabled.body.status).toBe('active');
    expect(await mkState(alice.id, mk.id)).toMatchObject({ st: 'active', v: '4' });
  });

  it('revokes on DELETE (idempotently) and publishes the revoked state', async () => {
    const mk = await createMk();
    const res = await api('DELETE', `/api/management/keys/${mk.id}`, alice.token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: mk.id, status: 'revoked', revoked_at: expect.any(String) });
    const state = await mkState(alice.id, mk.id);
    expect(state.st).toBe('revoked');
    expect(Number(state.v)).toBeGreaterThan(1);
    const again = await api('DELETE', `/api/management/keys/${mk.id}`, alice.token);
    expect(again.status).toBe(200);
    expect(again.body.revoked_at).toBe(res.body.revoked_at);
    expect((await mkState(alice.id, mk.id)).v).toBe(state.v);
  });

  it('rotates the gm- secret: the old one is refused at once, the children stay', async () => {
    const mk = await createMk();
    const children = `/api/management/keys/${mk.id}/children`;
    const child = await api('POST', children, mk.key, { name: 'Customer 1' });
    expect(child.status).toBe(201);
    // Only the owner rotates.
    expect((await api('POST', `/api/management/keys/${mk.id}/rotate`, mk.key)).status).toBe(403);
    for (const grace_period_seconds of [-1, 1.5, 7 * 86_400 + 1, '60']) {
      const bad = await api('POST', `/api/management/keys/${mk.id}/rotate`, alice.token, {
        grace_period_seconds,
      });
      expect([bad.status, bad.body.error.param]).toEqual([400, 'grace_period_seconds']);
    }

    const res = await api('POST', `/api/management/keys/${mk.id}/rotate`, alice.token);
    expect(res.status).toBe(200);
    const key = res.body.key as string;
    expect(key).toMatch(/^gm-/);
    expect(res.body).toMatchObject({ id: mk.id, status: 'active', children_count: 1 });
    expect(res.body.key_prefix).toBe(`${key.slice(0, 6)}…${key.slice(-4)}`);

    const old = await api('GET', children, mk.key);
    expect([old.status, old.body.error.code]).toEqual([401, 'key_revoked']);
    // It says why, as a child key's replaced secret does.
    expect(old.body.error.message).toBe('API key revoked: this secret was replaced by a rotation');
    const now = await api('GET', children, key);
    expect(now.status).toBe(200);
    expect(now.body.data.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      [child.body.id, 'active'],
    ]);
    // Rotated again, the first secret is still refused, and so is the second.
    const again = await api('POST', `/api/management/keys/${mk.id}/rotate`, alice.token);
    for (const k of [mk.key, key]) expect((await api('GET', children, k)).status).toBe(401);
    expect((await api('GET', children, again.body.key)).status).toBe(200);

    // A revoked key stays revoked.
    await api('DELETE', `/api/management/keys/${mk.id}`, alice.token);
    expect((await api('POST', `/api/management/keys/${mk.id}/rotate`, alice.token)).status).toBe(409);
  });

  it('a rotation with a grace: both secrets work until previous_key_expires_at, then the old one is revoked', async () => {
    const mk = await createMk();
    const children = `/api/management/keys/${mk.id}/children`;
    const rotate = (grace_period_seconds?: number) =>
      api(
        'POST',
        `/api/management/keys/${mk.id}/rotate`,
        alice.token,
        grace_period_seconds === undefined ? undefined : { grace_period_seconds },
      );
    const start = clock.now();
    const res = await rotate(3600);
    expect(res.status).toBe(200);
    const until = new Date(start.getTime() + 3600_000).toISOString();
    expect(res.body.previous_key_expires_at).toBe(until);
    expect(
      (await api('GET', `/api/management/keys/${mk.id}`, alice.token)).body.previous_key_expires_at,
    ).toBe(until);
    for (const k of [mk.key, res.body.key]) expect((await api('GET', children, k)).status).toBe(200);
    // One older secret at a time: a second grace while this one runs is refused, naming its end.
    const again = await rotate(60);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(until);
    expect((await api('GET', children, mk.key)).status).toBe(200);

    // At the grace's end the old secret is refused as revoked.
    clock.set(new Date(start.getTime() + 3600_000));
    try {
      const old = await api('GET', children, mk.key);
      expect([old.status, old.body.error.code]).toEqual([401, 'key_revoked']);
      expect((await api('GET', children, res.body.key)).status).toBe(200);
      expect(
        (await api('GET', `/api/management/keys/${mk.id}`, alice.token)).body.previous_key_expires_at,
      ).toBe(null);
      // A grace may start again once the last one ended; and 0 ends a running one at once.
      const third = await rotate(600);
      expect(third.status).toBe(200);
      expect((await api('GET', children, res.body.key)).status).toBe(200);
      const fourth = await rotate(0);
      expect([fourth.status, fourth.body.previous_key_expires_at]).toEqual([200, null]);
      for (const k of [mk.key, res.body.key, third.body.key])
        expect((await api('GET', children, k)).status).toBe(401);
      expect((await api('GET', children, fourth.body.key)).status).toBe(200);
    } finally {
      clock.set(start);
    }
  });

  it('a rotation by an api of the release before graces (one that sets no grace) stops the replaced secret at once', async () => {
    const mk = await createMk();
    const children = `/api/management/keys/${mk.id}/children`;
    const graced = await api('POST', `/api/management/keys/${mk.id}/rotate`, alice.token, {
      grace_period_seconds: 3600,
    });
    expect((await api('GET', children, mk.key)).status).toBe(200);
    // What that release's rotation wrote: the hashes moved, the grace column untouched.
    const next = createHash('sha256').update('gm-from-an-older-api').digest();
    await env.ctx.sql`
      update management_keys set previous_key_hash = key_hash, key_hash = ${next}, key_prefix = 'gm-old…api'
      where id = ${mk.id}`;
    const replaced = await api('GET', children, graced.body.key);
    expect([replaced.status, replaced.body.error.code]).toEqual([401, 'key_revoked']);
    expect(
      (await api('GET', `/api/management/keys/${mk.id}`, alice.token)).body.previous_key_expires_at,
    ).toBeNull();
  });

  it('records last_used_at when the gm- key is used', async () => {
    const mk = await createMk();
    await api('GET', `/api/management/keys/${mk.id}/children`, mk.key);
    const one = await api('GET', `/api/management/keys/${mk.id}`, alice.token);
    expect(one.body.last_used_at).toEqual(expect.any(String));
  });

  it('documents every route in /openapi.json', async () => {
    const doc = await api('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths['/api/management/keys'])).toEqual(
      expect.arrayContaining(['get', 'post']),
    );
    expect(Object.keys(doc.body.paths['/api/management/keys/{id}'])).toEqual(
      expect.arrayContaining(['get', 'patch', 'delete']),
    );
  });
});

describe('management keys: errors', () => {
  it.each([
    [{}, 'name'],
    [{ name: '' }, 'name'],
    [{ name: '   ' }, 'name'],
    [{ name: 'x'.repeat(101) }, 'name'],
    [{ name: 42 }, 'name'],
    [{ name: 'ok', extra: 1 }, 'extra'],
    // A name may not reorder the text around it, nor look blank.
    [{ name: 'Client \u202EA tneilC' }, 'name'],
    [{ name: 'Client\u2066 B' }, 'name'],
    [{ name: '\u200B\u200B' }, 'name'],
    [{ name: ' \uFEFF\u00AD ' }, 'name'],
    // Blank-looking letters, tags, variation selectors, bare combining marks, invisible operators.
    [{ name: '\u3164\uFFA0\u115F' }, 'name'],
    [{ name: '\u2800' }, 'name'],
    [{ name: '\u{E0041}\u{E0042}' }, 'name'],
    [{ name: '\uFE0F\u034F\u0301' }, 'name'],
    [{ name: '\u2061\u2062' }, 'name'],
    // Control characters, anywhere.
    [{ name: 'Client\u0085A' }, 'name'],
    [{ name: 'Client\u001b[31mA' }, 'name'],
    [{ name: 'Client\u007f' }, 'name'],
  ])('rejects create body %j naming %s', async (body, param) => {
    const res = await api('POST', '/api/management/keys', alice.token, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it.each([
    [{ status: 'revoked' }, 'status'],
    [{ status: 'deleted' }, 'status'],
    [{ name: '' }, 'name'],
    [{ key_prefix: 'gm-xxx' }, 'key_prefix'],
  ])('rejects PATCH body %j naming %s', async (body, param) => {
    const mk = await createMk();
    const res = await api('PATCH', `/api/management/keys/${mk.id}`, alice.token, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('refuses to PATCH a revoked key back to life (409 conflict)', async () => {
    const mk = await createMk();
    await api('DELETE', `/api/management/keys/${mk.id}`, alice.token);
    const res = await api('PATCH', `/api/management/keys/${mk.id}`, alice.token, { status: 'active' });
    expect(res.status).toBe(409);
    expect(res.body.error.type).toBe('conflict');
    expect((await mkState(alice.id, mk.id)).st).toBe('revoked');
  });

  it('answers 404 for an unknown id', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await api(
        method,
        '/api/management/keys/mk_nope',
        alice.token,
        method === 'PATCH' ? {} : undefined,
      );
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
  });
});

describe('management keys: security', () => {
  it('requires a bearer token and a valid session', async () => {
    const none = await api('GET', '/api/management/keys');
    expect(none.status).toBe(401);
    expect(none.body.error.type).toBe('authentication_error');
    const bad = await api('GET', '/api/management/keys', 'not.a.jwt');
    expect(bad.status).toBe(401);
  });

  it('refuses gm- and gc- keys on the owner routes with 403 permission_error', async () => {
    const mk = await createMk();
    const child = await api('POST', `/api/management/keys/${mk.id}/children`, alice.token, { name: 'c' });
    for (const token of [mk.key, child.body.key as string]) {
      for (const [method, path] of [
        ['GET', '/api/management/keys'],
        ['POST', '/api/management/keys'],
        ['GET', `/api/management/keys/${mk.id}`],
        ['PATCH', `/api/management/keys/${mk.id}`],
        ['DELETE', `/api/management/keys/${mk.id}`],
      ] as const) {
        const res = await api(
          method,
          path,
          token,
          method === 'GET' || method === 'DELETE' ? undefined : { name: 'x' },
        );
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.body.error.type).toBe('permission_error');
      }
    }
    expect((await mkState(alice.id, mk.id)).st).toBe('active');
  });

  it("hides another account's keys behind 404", async () => {
    const mk = await createMk(alice.token);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await api(
        method,
        `/api/management/keys/${mk.id}`,
        bob.token,
        method === 'PATCH' ? { name: 'x' } : undefined,
      );
      expect(res.status, method).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
    const list = await api('GET', '/api/management/keys', bob.token);
    expect(list.body.data.map((k: { id: string }) => k.id)).not.toContain(mk.id);
    expect((await api('GET', `/api/management/keys/${mk.id}`, alice.token)).body.status).toBe('active');
  });

  it('a revoked key answers 401 invalid_api_key key_revoked', async () => {
    const mk = await createMk();
    await api('DELETE', `/api/management/keys/${mk.id}`, alice.token);
    const res = await api('GET', `/api/management/keys/${mk.id}/children`, mk.key);
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_revoked' });
  });

  it('a disabled key answers 401 key_disabled until re-enabled', async () => {
    const mk = await createMk();
    await api('PATCH', `/api/management/keys/${mk.id}`, alice.token, { status: 'disabled' });
    const res = await api('GET', `/api/management/keys/${mk.id}/children`, mk.key);
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_disabled' });
    await api('PATCH', `/api/management/keys/${mk.id}`, alice.token, { status: 'active' });
    expect((await api('GET', `/api/management/keys/${mk.id}/children`, mk.key)).status).toBe(200);
  });

  it('an unknown gm- key answers 401 key_unknown', async () => {
    const mk = await createMk();
    const res = await api('GET', `/api/management/keys/${mk.id}/children`, `gm-${'x'.repeat(43)}`);
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_unknown' });
  });
});
