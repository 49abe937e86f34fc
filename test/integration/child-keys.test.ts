import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { newId } from '../../shared/ids.js';
import { createTestAccount, type TestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

const NOW = '2026-11-26T12:00:00.000Z';
const clock = new ManualClock(NOW);
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
beforeEach(() => clock.set(NOW));
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const api = (method: string, path: string, token?: string, body?: unknown) =>
  call(server.url, method, path, { token, body });
const children = (mkId: string) => `/api/management/keys/${mkId}/children`;

async function createMk(owner: TestAccount = alice) {
  const res = await api('POST', '/api/management/keys', owner.token, { name: 'My SaaS' });
  expect(res.status).toBe(201);
  return res.body as { id: string; key: string };
}
async function createChild(mkId: string, body: Record<string, unknown> = { name: 'c' }, token = alice.token) {
  const res = await api('POST', children(mkId), token, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}
const childState = (id: string, acct = alice) => env.ctx.redis.hgetall(env.ctx.keys.childKey(acct.id, id));

describe('child keys: happy path', () => {
  it('runs the seed flow', async () => {
    const mk = await api('POST', '/api/management/keys', alice.token, { name: 'My SaaS' });
    expect(mk.status).toBe(201);
    const res = await api('POST', `/api/management/keys/${mk.body.id}/children`, alice.token, {
      name: 'Client A',
      limit_daily_ngonka: '1000000000',
      rate_limit_rpm: 30,
    });
    expect(res.status).toBe(201);
    expect(res.body.key).toMatch(/^gc-[\w-]{43}$/);
    expect(res.body.created_at).toBe(NOW);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^ck_/),
      name: 'Client A',
      key: res.body.key,
      key_prefix: `${res.body.key.slice(0, 6)}…${res.body.key.slice(-4)}`,
      status: 'active',
      limit_daily_ngonka: '1000000000',
      limit_monthly_ngonka: null,
      rate_limit_rpm: 30,
      expires_at: null,
      metadata: {},
      created_at: expect.any(String),
      last_used_at: null,
      deleted_at: null,
      usage: {
        daily_spent_ngonka: '0',
        monthly_spent_ngonka: '0',
        daily_reserved_ngonka: '0',
        monthly_reserved_ngonka: '0',
        daily_remaining_ngonka: '1000000000',
        monthly_remaining_ngonka: null,
        requests_today: 0,
        requests_this_month: 0,
        day_resets_at: '2026-11-27T00:00:00.000Z',
        month_resets_at: '2026-12-01T00:00:00.000Z',
      },
    });
    expect(await childState(res.body.id)).toMatchObject({
      st: 'active',
      v: '1',
      rpm: '30',
      ld: '1000000000',
      lm: '-1',
    });
  });

  it('never shows the plain key again and stores only its SHA-256', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id, { name: 'c', metadata: { customer: 'acme', tier: 2 } });
    const one = await api('GET', `${children(mk.id)}/${c.id}`, alice.token);
    const list = await api('GET', children(mk.id), alice.token);
    expect(one.body).not.toHaveProperty('key');
    expect(one.body.metadata).toEqual({ customer: 'acme', tier: 2 });
    expect(JSON.stringify(one.body) + JSON.stringify(list.body)).not.toContain(c.key);
    const [row] = await env.ctx.sql`select key_hash from child_keys where id = ${c.id}`;
    expect(Buffer.from(row!.key_hash).equals(createHash('sha256').update(c.key).digest())).toBe(true);
  });

  it('lets the gm- key manage its own children', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id, { name: 'by gm', limit_monthly_ngonka: 5000 }, mk.key);
    expect(c.limit_monthly_ngonka).toBe('5000');
    const list = await api('GET', children(mk.id), mk.key);
    expect(list.status).toBe(200);
    expect(list.body.data.map((k: { id: string }) => k.id)).toEqual([c.id]);
    expect((await api('GET', `${children(mk.id)}/${c.id}`, mk.key)).status).toBe(200);
    const patched = await api('PATCH', `${children(mk.id)}/${c.id}`, mk.key, { rate_limit_rpm: 5 });
    expect(patched.body.rate_limit_rpm).toBe(5);
    const del = await api('DELETE', `${children(mk.id)}/${c.id}`, mk.key);
    expect(del.body.status).toBe('deleted');
  });

  it('PATCHes fields, null clears limits, rpm, expiry and metadata, and publishes each change', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id, {
      name: 'c',
      limit_daily_ngonka: 10,
      limit_monthly_ngonka: '20',
      rate_limit_rpm: 3,
      expires_at: '2026-12-01T00:00:00+02:00',
      metadata: { a: 1 },
    });
    expect(c.expires_at).toBe('2026-11-30T22:00:00.000Z');
    const url = `${children(mk.id)}/${c.id}`;
    const p1 = await api('PATCH', url, alice.token, {
      name: 'renamed',
      limit_daily_ngonka: '7',
      metadata: { b: 2 },
    });
    expect(p1.status).toBe(200);
    expect(p1.body).toMatchObject({ name: 'renamed', limit_daily_ngonka: '7', limit_monthly_ngonka: '20' });
    expect(p1.body.metadata).toEqual({ b: 2 });
    expect(p1.body.usage.daily_remaining_ngonka).toBe('7');
    const p2 = await api('PATCH', url, alice.token, {
      limit_daily_ngonka: null,
      limit_monthly_ngonka: null,
      rate_limit_rpm: null,
      expires_at: null,
      metadata: null,
    });
    expect(p2.body).toMatchObject({
      limit_daily_ngonka: null,
      limit_monthly_ngonka: null,
      rate_limit_rpm: null,
      expires_at: null,
      metadata: {},
      usage: { daily_remaining_ngonka: null, monthly_remaining_ngonka: null },
    });
    expect(await childState(c.id)).toMatchObject({ v: '3', ld: '-1', lm: '-1', rpm: '0', exp: '0' });
  });

  it('disables and deletes, the Redis state following with higher versions', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    const url = `${children(mk.id)}/${c.id}`;
    const disabled = await api('PATCH', url, alice.token, { status: 'disabled' });
    expect(disabled.body.status).toBe('disabled');
    expect(await childState(c.id)).toMatchObject({ st: 'disabled', v: '2' });
    clock.advance(1000);
    const del = await api('DELETE', url, alice.token);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ status: 'deleted', deleted_at: '2026-11-26T12:00:01.000Z' });
    expect(await childState(c.id)).toMatchObject({ st: 'deleted', v: '3' });
    const again = await api('DELETE', url, alice.token);
    expect(again.body.deleted_at).toBe(del.body.deleted_at);
    expect((await childState(c.id)).v).toBe('3');
  });

  it('revoking the management key publishes its state (what stops every child)', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    await api('DELETE', `/api/management/keys/${mk.id}`, alice.token);
    const state = await env.ctx.redis.hgetall(env.ctx.keys.managementKey(alice.id, mk.id));
    expect(state.st).toBe('revoked');
    expect(Number(state.v)).toBeGreaterThan(1);
    expect(await childState(c.id)).toMatchObject({ st: 'active', mk: mk.id });
  });

  it('keeps deleted children in the list for audit and filters by status', async () => {
    const mk = await createMk();
    const a = await createChild(mk.id, { name: 'a' });
    clock.advance(1000);
    const b = await createChild(mk.id, { name: 'b' });
    clock.advance(1000);
    const x = await createChild(mk.id, { name: 'x', expires_at: '2026-11-26T13:00:00Z' });
    await api('DELETE', `${children(mk.id)}/${a.id}`, alice.token);
    await api('PATCH', `${children(mk.id)}/${b.id}`, alice.token, { status: 'disabled' });
    clock.set('2026-11-26T14:00:00Z');
    const ids = async (q: string) =>
      (await api('GET', `${children(mk.id)}${q}`, alice.token)).body.data.map((k: { id: string }) => k.id);
    expect(await ids('')).toEqual([x.id, b.id, a.id]);
    expect(await ids('?status=deleted')).toEqual([a.id]);
    expect(await ids('?status=disabled')).toEqual([b.id]);
    expect(await ids('?status=expired')).toEqual([x.id]);
    expect(await ids('?status=active')).toEqual([]);
  });

  it('shows a key past expires_at as expired before the scheduler flips it, and revives it on extension', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id, { name: 'ttl', expires_at: '2026-11-26T13:00:00Z' });
    const url = `${children(mk.id)}/${c.id}`;
    clock.set('2026-11-26T13:00:00Z');
    expect((await api('GET', url, alice.token)).body.status).toBe('expired');
    const refused = await api('PATCH', url, alice.token, { status: 'active' });
    expect(refused.status).toBe(409);
    await env.ctx.sql`update child_keys set status = 'expired' where id = ${c.id}`; // the scheduler's flip
    const renamed = await api('PATCH', url, alice.token, { name: 'still expired' });
    expect(renamed.body.status).toBe('expired');
    const extended = await api('PATCH', url, alice.token, { expires_at: '2026-11-27T00:00:00Z' });
    expect(extended.body).toMatchObject({ status: 'active', expires_at: '2026-11-27T00:00:00.000Z' });
    expect(await childState(c.id)).toMatchObject({
      st: 'active',
      exp: String(Date.parse('2026-11-27T00:00:00Z')),
    });
  });

  it('computes usage from settled days and open holds of the current UTC day and month', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id, { name: 'u', limit_daily_ngonka: 1000, limit_monthly_ngonka: '5000' });
    const other = await createChild(mk.id, { name: 'other', limit_daily_ngonka: 10 });
    const usage = (day: string, requests: number, cost: number, model = 'm') =>
      env.ctx.sql`insert into key_usage_daily (child_key_id, day, model, account_id, requests, cost_ngonka)
        values (${c.id}, ${day}, ${model}, ${alice.id}, ${requests}, ${cost})`;
    await usage('2026-11-26', 2, 100);
    await usage('2026-11-26', 1, 50, 'm2');
    await usage('2026-11-03', 4, 400);
    await usage('2026-10-31', 9, 9000); // last month: ignored
    const hold = (day: string, amount: number, status = 'open') =>
      env.ctx.sql`insert into holds (id, request_id, account_id, child_key_id, amount, period_day, model,
          price_ngonka_per_token, markup_bps, status, deadline)
        values (${newId('hold')}, ${newId('req')}, ${alice.id}, ${c.id}, ${amount}, ${day}, 'm', 1, 12000,
          ${status}, ${'2026-11-26T13:00:00Z'})`;
    await hold('2026-11-26', 30);
    await hold('2026-11-25', 20);
    await hold('2026-11-26', 999, 'voided'); // resolved: ignored
    await hold('2026-10-30', 77); // last month: ignored
    const list = await api('GET', children(mk.id), alice.token);
    const byId = new Map(list.body.data.map((k: { id: string }) => [k.id, k]));
    expect((byId.get(c.id) as { usage: unknown }).usage).toEqual({
      daily_spent_ngonka: '150',
      monthly_spent_ngonka: '550',
      daily_reserved_ngonka: '30',
      monthly_reserved_ngonka: '50',
      daily_remaining_ngonka: '820',
      monthly_remaining_ngonka: '4400',
      requests_today: 4,
      requests_this_month: 9,
      day_resets_at: '2026-11-27T00:00:00.000Z',
      month_resets_at: '2026-12-01T00:00:00.000Z',
    });
    expect(
      (byId.get(other.id) as { usage: { daily_remaining_ngonka: string } }).usage.daily_remaining_ngonka,
    ).toBe('10');
    await api('PATCH', `${children(mk.id)}/${c.id}`, alice.token, { limit_daily_ngonka: 100 });
    const one = await api('GET', `${children(mk.id)}/${c.id}`, alice.token);
    expect(one.body.usage.daily_remaining_ngonka).toBe('0'); // never negative
    clock.set('2026-12-01T00:00:00Z');
    const nextMonth = await api('GET', `${children(mk.id)}/${c.id}`, alice.token);
    expect(nextMonth.body.usage).toMatchObject({ monthly_spent_ngonka: '0', requests_this_month: 0 });
  });
});

describe('child keys: errors', () => {
  const invalid: [Record<string, unknown>, string][] = [
    [{}, 'name'],
    [{ name: '   ' }, 'name'],
    [{ name: 'x'.repeat(101) }, 'name'],
    [{ name: 'c', bogus: true }, 'bogus'],
    [{ name: 'c', limit_daily_ngonka: '1.5' }, 'limit_daily_ngonka'],
    [{ name: 'c', limit_daily_ngonka: -1 }, 'limit_daily_ngonka'],
    [{ name: 'c', limit_monthly_ngonka: 'abc' }, 'limit_monthly_ngonka'],
    [{ name: 'c', limit_monthly_ngonka: 1e30 }, 'limit_monthly_ngonka'],
    [{ name: 'c', limit_monthly_ngonka: 1.5 }, 'limit_monthly_ngonka'],
    [{ name: 'c', limit_daily_ngonka: '99999999999999999999' }, 'limit_daily_ngonka'],
    [{ name: 'c', rate_limit_rpm: 0 }, 'rate_limit_rpm'],
    [{ name: 'c', rate_limit_rpm: 1.5 }, 'rate_limit_rpm'],
    [{ name: 'c', rate_limit_rpm: '30' }, 'rate_limit_rpm'],
    [{ name: 'c', rate_limit_rpm: 1_000_001 }, 'rate_limit_rpm'],
    [{ name: 'c', expires_at: '2027-01-01T00:00:00' }, 'expires_at'],
    [{ name: 'c', expires_at: 'tomorrow' }, 'expires_at'],
    [{ name: 'c', expires_at: '2026-11-26T11:59:59Z' }, 'expires_at'],
    [{ name: 'c', expires_at: NOW }, 'expires_at'],
    [{ name: 'c', metadata: [1, 2] }, 'metadata'],
    [{ name: 'c', metadata: 'text' }, 'metadata'],
    [{ name: 'c', metadata: { big: 'x'.repeat(16 * 1024) } }, 'metadata'],
    [{ name: 'c', metadata: { nul: 'a\u0000b' } }, 'metadata'],
    [{ name: 'c', status: 'active' }, 'status'],
  ];
  it.each(invalid)('rejects create body %j naming %s', async (body, param) => {
    const mk = await createMk();
    const res = await api('POST', children(mk.id), alice.token, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it.each([
    [{ status: 'deleted' }, 'status'],
    [{ status: 'expired' }, 'status'],
    [{ name: null }, 'name'],
    [{ limit_daily_ngonka: '1.5' }, 'limit_daily_ngonka'],
    [{ rate_limit_rpm: -3 }, 'rate_limit_rpm'],
    [{ expires_at: '2020-01-01T00:00:00Z' }, 'expires_at'],
    [{ key_prefix: 'gc-' }, 'key_prefix'],
  ])('rejects PATCH body %j naming %s', async (body, param) => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    const res = await api('PATCH', `${children(mk.id)}/${c.id}`, alice.token, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('accepts the largest safe limit and an rpm of 1000000', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id, {
      name: 'c',
      limit_daily_ngonka: '9007199254740991',
      rate_limit_rpm: 1_000_000,
    });
    expect(c).toMatchObject({ limit_daily_ngonka: '9007199254740991', rate_limit_rpm: 1_000_000 });
  });

  it('rejects an unknown ?status= filter', async () => {
    const mk = await createMk();
    const res = await api('GET', `${children(mk.id)}?status=gone`, alice.token);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('status');
  });

  it('refuses to modify a deleted child (409)', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    await api('DELETE', `${children(mk.id)}/${c.id}`, alice.token);
    for (const body of [{ status: 'active' }, { name: 'back' }, {}]) {
      const res = await api('PATCH', `${children(mk.id)}/${c.id}`, alice.token, body);
      expect(res.status).toBe(409);
      expect(res.body.error.type).toBe('conflict');
    }
    expect((await childState(c.id)).st).toBe('deleted');
  });

  it('refuses to create or change children under a revoked management key (409)', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    await api('DELETE', `/api/management/keys/${mk.id}`, alice.token);
    const create = await api('POST', children(mk.id), alice.token, { name: 'late' });
    expect(create.status).toBe(409);
    expect(create.body.error.type).toBe('conflict');
    const patch = await api('PATCH', `${children(mk.id)}/${c.id}`, alice.token, { name: 'x' });
    expect(patch.status).toBe(409);
    expect((await api('GET', children(mk.id), alice.token)).body.data).toHaveLength(1);
  });

  it('answers 404 for unknown management keys and children', async () => {
    const mk = await createMk();
    expect((await api('GET', children('mk_nope'), alice.token)).status).toBe(404);
    expect((await api('POST', children('mk_nope'), alice.token, { name: 'c' })).status).toBe(404);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await api(
        method,
        `${children(mk.id)}/ck_nope`,
        alice.token,
        method === 'PATCH' ? {} : undefined,
      );
      expect(res.status, method).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
  });
});

describe('child keys: security', () => {
  it("refuses a gm- key on a sibling management key's children (403)", async () => {
    const mk = await createMk();
    const sibling = await createMk();
    const c = await createChild(sibling.id);
    const calls = [
      ['GET', children(sibling.id)],
      ['POST', children(sibling.id)],
      ['GET', `${children(sibling.id)}/${c.id}`],
      ['PATCH', `${children(sibling.id)}/${c.id}`],
      ['DELETE', `${children(sibling.id)}/${c.id}`],
    ] as const;
    for (const [method, path] of calls) {
      const res = await api(
        method,
        path,
        mk.key,
        method === 'POST' || method === 'PATCH' ? { name: 'x' } : undefined,
      );
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.type).toBe('permission_error');
    }
    expect((await childState(c.id)).st).toBe('active');
  });

  it('refuses a gc- key on the child-key routes (403)', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    for (const [method, path] of [
      ['GET', children(mk.id)],
      ['POST', children(mk.id)],
      ['PATCH', `${children(mk.id)}/${c.id}`],
    ] as const) {
      const res = await api(method, path, c.key, method === 'GET' ? undefined : { name: 'x' });
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe('permission_error');
    }
  });

  it("hides another account's management keys and children behind 404", async () => {
    const mk = await createMk(alice);
    const c = await createChild(mk.id);
    const bobsMk = await createMk(bob);
    const paths = [
      ['GET', children(mk.id)],
      ['POST', children(mk.id)],
      ['GET', `${children(mk.id)}/${c.id}`],
      ['PATCH', `${children(mk.id)}/${c.id}`],
      ['DELETE', `${children(mk.id)}/${c.id}`],
      // Alice's child through Bob's own management key: still not Bob's.
      ['GET', `${children(bobsMk.id)}/${c.id}`],
      ['PATCH', `${children(bobsMk.id)}/${c.id}`],
      ['DELETE', `${children(bobsMk.id)}/${c.id}`],
    ] as const;
    for (const [method, path] of paths) {
      const res = await api(
        method,
        path,
        bob.token,
        method === 'POST' || method === 'PATCH' ? { name: 'x' } : undefined,
      );
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
    const after = await api('GET', `${children(mk.id)}/${c.id}`, alice.token);
    expect(after.body).toMatchObject({ name: 'c', status: 'active' });
  });

  it('hides a child behind 404 when addressed through a different management key of the same account', async () => {
    const mk = await createMk();
    const other = await createMk();
    const c = await createChild(mk.id);
    expect((await api('GET', `${children(other.id)}/${c.id}`, alice.token)).status).toBe(404);
    expect((await api('GET', `${children(other.id)}/${c.id}`, other.key)).status).toBe(404);
  });

  it('a revoked or disabled gm- key answers 401 with its code', async () => {
    const revoked = await createMk();
    await api('DELETE', `/api/management/keys/${revoked.id}`, alice.token);
    const r1 = await api('POST', children(revoked.id), revoked.key, { name: 'x' });
    expect(r1.status).toBe(401);
    expect(r1.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_revoked' });
    const disabled = await createMk();
    const kept = await createChild(disabled.id);
    await api('PATCH', `/api/management/keys/${disabled.id}`, alice.token, { status: 'disabled' });
    const r2 = await api('GET', children(disabled.id), disabled.key);
    expect(r2.status).toBe(401);
    expect(r2.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_disabled' });
    // Disabling the parent stops only the gm- key; the owner still sees its children serving.
    expect((await api('GET', `${children(disabled.id)}/${kept.id}`, alice.token)).body.status).toBe('active');
  });
});
