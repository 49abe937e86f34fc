import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newId } from '../../shared/ids.js';
import { childKeyWorld, NOW } from '../helpers/child-key-world.js';

const w = childKeyWorld();
const { api, children, createMk, createChild, childState, clock } = w;

describe('child keys: happy path', () => {
  it('runs the seed flow', async () => {
    const mk = await api('POST', '/api/management/keys', w.alice.token, { name: 'My SaaS' });
    expect(mk.status).toBe(201);
    const res = await api('POST', `/api/management/keys/${mk.body.id}/children`, w.alice.token, {
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
      previous_key_expires_at: null,
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
    const one = await api('GET', `${children(mk.id)}/${c.id}`, w.alice.token);
    const list = await api('GET', children(mk.id), w.alice.token);
    expect(one.body).not.toHaveProperty('key');
    expect(one.body.metadata).toEqual({ customer: 'acme', tier: 2 });
    expect(JSON.stringify(one.body) + JSON.stringify(list.body)).not.toContain(c.key);
    const [row] = await w.env.ctx.sql`select key_hash from child_keys where id = ${c.id}`;
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
    const p1 = await api('PATCH', url, w.alice.token, {
      name: 'renamed',
      limit_daily_ngonka: '7',
      metadata: { b: 2 },
    });
    expect(p1.status).toBe(200);
    expect(p1.body).toMatchObject({ name: 'renamed', limit_daily_ngonka: '7', limit_monthly_ngonka: '20' });
    expect(p1.body.metadata).toEqual({ b: 2 });
    expect(p1.body.usage.daily_remaining_ngonka).toBe('7');
    const p2 = await api('PATCH', url, w.alice.token, {
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
    const disabled = await api('PATCH', url, w.alice.token, { status: 'disabled' });
    expect(disabled.body.status).toBe('disabled');
    expect(await childState(c.id)).toMatchObject({ st: 'disabled', v: '2' });
    clock.advance(1000);
    const del = await api('DELETE', url, w.alice.token);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ status: 'deleted', deleted_at: '2026-11-26T12:00:01.000Z' });
    expect(await childState(c.id)).toMatchObject({ st: 'deleted', v: '3' });
    const again = await api('DELETE', url, w.alice.token);
    expect(again.body.deleted_at).toBe(del.body.deleted_at);
    expect((await childState(c.id)).v).toBe('3');
  });

  it('revoking the management key publishes its state (what stops every child) and deletes its children', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    const gone = await createChild(mk.id, { name: 'deleted before' });
    await api('DELETE', `${children(mk.id)}/${gone.id}`, w.alice.token);
    clock.advance(5000);
    await api('DELETE', `/api/management/keys/${mk.id}`, w.alice.token);
    const state = await w.env.ctx.redis.hgetall(w.env.ctx.keys.managementKey(w.alice.id, mk.id));
    expect(state.st).toBe('revoked');
    expect(Number(state.v)).toBeGreaterThan(1);
    // Its children can never serve again: they say so, in Postgres and in Redis.
    const child = await api('GET', `${children(mk.id)}/${c.id}`, w.alice.token);
    expect(child.body).toMatchObject({ status: 'deleted', deleted_at: new Date(clock.now()).toISOString() });
    expect(await childState(c.id)).toMatchObject({ st: 'deleted', mk: mk.id });
    const earlier = await api('GET', `${children(mk.id)}/${gone.id}`, w.alice.token);
    expect(earlier.body.deleted_at).not.toBe(child.body.deleted_at); // its own deletion's time kept
    expect((await api('GET', `${children(mk.id)}?status=active`, w.alice.token)).body.data).toEqual([]);
  });

  it('keeps deleted children in the list for audit and filters by status', async () => {
    const mk = await createMk();
    const a = await createChild(mk.id, { name: 'a' });
    clock.advance(1000);
    const b = await createChild(mk.id, { name: 'b' });
    clock.advance(1000);
    const x = await createChild(mk.id, { name: 'x', expires_at: '2026-11-26T13:00:00Z' });
    await api('DELETE', `${children(mk.id)}/${a.id}`, w.alice.token);
    await api('PATCH', `${children(mk.id)}/${b.id}`, w.alice.token, { status: 'disabled' });
    clock.set('2026-11-26T14:00:00Z');
    const ids = async (q: string) =>
      (await api('GET', `${children(mk.id)}${q}`, w.alice.token)).body.data.map((k: { id: string }) => k.id);
    expect(await ids('')).toEqual([x.id, b.id, a.id]);
    expect(await ids('?status=deleted')).toEqual([a.id]);
    expect(await ids('?status=disabled')).toEqual([b.id]);
    expect(await ids('?status=expired')).toEqual([x.id]);
    expect(await ids('?status=active')).toEqual([]);
  });

  it('pages the list with limit and after, and finds keys by part of their name', async () => {
    const mk = await createMk();
    const made = [];
    for (const name of ['Acme Corp', 'Globex', 'acme labs', '100%_real']) {
      clock.advance(1000);
      made.push(await createChild(mk.id, { name }));
    }
    const newestFirst = made.map((k) => k.id).reverse();
    const list = async (q: string) => (await api('GET', `${children(mk.id)}${q}`, w.alice.token)).body;
    const whole = await list('');
    expect(whole).toMatchObject({ first_id: newestFirst[0], last_id: newestFirst[3], has_more: false });
    const first = await list('?limit=3');
    expect(first.data.map((k: { id: string }) => k.id)).toEqual(newestFirst.slice(0, 3));
    expect(first).toMatchObject({ first_id: newestFirst[0], last_id: newestFirst[2], has_more: true });
    const rest = await list(`?limit=3&after=${first.last_id}`);
    expect(rest.data.map((k: { id: string }) => k.id)).toEqual([newestFirst[3]]);
    expect(rest.has_more).toBe(false);
    // Any case; % and _ are the name's own characters.
    expect((await list('?name=ACME')).data.map((k: { name: string }) => k.name)).toEqual([
      'acme labs',
      'Acme Corp',
    ]);
    expect((await list('?name=0%25_')).data.map((k: { name: string }) => k.name)).toEqual(['100%_real']);
    expect((await list('?name=%25')).data.map((k: { name: string }) => k.name)).toEqual(['100%_real']);
    // A cursor of another list is refused, not read as the end.
    const other = await createChild((await createMk()).id, { name: 'elsewhere' });
    const bad = await api('GET', `${children(mk.id)}?after=${other.id}`, w.alice.token);
    expect([bad.status, bad.body.error.param]).toEqual([400, 'after']);
    for (const q of [
      '?limit=0',
      '?limit=1001',
      '?limit=1e3',
      '?limit=%201',
      '?limit=0x2',
      '?limit=1&limit=2',
      '?name=',
      '?sort=name',
    ])
      expect((await api('GET', `${children(mk.id)}${q}`, w.alice.token)).status).toBe(400);
  });

  it('finds keys by their metadata: your customer id, say', async () => {
    const mk = await createMk();
    const acme = await createChild(mk.id, {
      name: 'Acme',
      metadata: { customer_id: 'c_42', plan: 'pro', seats: 12 },
    });
    clock.advance(1000); // newest first
    await createChild(mk.id, { name: 'Globex', metadata: { customer_id: 'c_7', plan: 'pro' } });
    await createChild(mk.id, { name: 'Bare' });
    const names = async (q: string) =>
      (await api('GET', `${children(mk.id)}${q}`, w.alice.token)).body.data.map(
        (k: { name: string }) => k.name,
      );
    expect(await names('?metadata.customer_id=c_42')).toEqual(['Acme']);
    expect(await names('?metadata.plan=pro')).toEqual(['Globex', 'Acme']);
    expect(await names('?metadata.plan=pro&metadata.customer_id=c_7')).toEqual(['Globex']);
    // Compared as text: a number's digits match it.
    expect(await names('?metadata.seats=12')).toEqual(['Acme']);
    expect(await names('?metadata.customer_id=nobody')).toEqual([]);
    // Along with the other filters, and only this management key's keys.
    expect(await names('?metadata.plan=pro&name=acm&limit=1')).toEqual(['Acme']);
    const other = await createMk();
    await createChild(other.id, { name: 'Acme elsewhere', metadata: { customer_id: 'c_42' } });
    expect(await names('?metadata.customer_id=c_42')).toEqual(['Acme']);
    expect(acme.metadata).toEqual({ customer_id: 'c_42', plan: 'pro', seats: 12 });
    // One value each, at most five of them.
    const twice = await api('GET', `${children(mk.id)}?metadata.plan=a&metadata.plan=b`, w.alice.token);
    expect([twice.status, twice.body.error.param]).toEqual([400, 'metadata.plan']);
    const six = Array.from({ length: 6 }, (_, i) => `metadata.k${i}=v`).join('&');
    const many = await api('GET', `${children(mk.id)}?${six}`, w.alice.token);
    expect([many.status, many.body.error.param]).toEqual([400, 'metadata']);
  });

  it('looks up the keys a page shows by their ids, only this management key’s', async () => {
    const mk = await createMk();
    const a = await createChild(mk.id, { name: 'A' });
    clock.advance(1000);
    const b = await createChild(mk.id, { name: 'B' });
    await createChild(mk.id, { name: 'C' });
    const other = await createChild((await createMk()).id, { name: 'Elsewhere' });
    const names = async (ids: string) =>
      (await api('GET', `${children(mk.id)}?ids=${ids}`, w.alice.token)).body.data.map(
        (k: { name: string }) => k.name,
      );
    expect(await names(`${a.id},${b.id},${other.id},ck_nonesuch`)).toEqual(['B', 'A']);
    expect(await names(a.id)).toEqual(['A']);
    // 1 to 100 of them, named as a 400 past that.
    for (const bad of ['', Array.from({ length: 101 }, () => a.id).join(','), `${a.id},,${b.id}`]) {
      const res = await api('GET', `${children(mk.id)}?ids=${bad}`, w.alice.token);
      expect([res.status, res.body.error.param]).toEqual([400, 'ids']);
    }
  });

  it('shows a key past expires_at as expired before the scheduler flips it, and revives it on extension', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id, { name: 'ttl', expires_at: '2026-11-26T13:00:00Z' });
    const url = `${children(mk.id)}/${c.id}`;
    clock.set('2026-11-26T13:00:00Z');
    expect((await api('GET', url, w.alice.token)).body.status).toBe('expired');
    const refused = await api('PATCH', url, w.alice.token, { status: 'active' });
    expect(refused.status).toBe(409);
    await w.env.ctx.sql`update child_keys set status = 'expired' where id = ${c.id}`; // the scheduler's flip
    const renamed = await api('PATCH', url, w.alice.token, { name: 'still expired' });
    expect(renamed.body.status).toBe('expired');
    const extended = await api('PATCH', url, w.alice.token, { expires_at: '2026-11-27T00:00:00Z' });
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
      w.env.ctx.sql`insert into key_usage_daily (child_key_id, day, model, account_id, requests, cost_ngonka)
        values (${c.id}, ${day}, ${model}, ${w.alice.id}, ${requests}, ${cost})`;
    await usage('2026-11-26', 2, 100);
    await usage('2026-11-26', 1, 50, 'm2');
    await usage('2026-11-03', 4, 400);
    await usage('2026-10-31', 9, 9000); // last month: ignored
    const hold = (day: string, amount: number, status = 'open') =>
      w.env.ctx.sql`insert into holds (id, request_id, account_id, child_key_id, amount, period_day, model,
          price_ngonka_per_token, markup_bps, status, deadline)
        values (${newId('hold')}, ${newId('req')}, ${w.alice.id}, ${c.id}, ${amount}, ${day}, 'm', 1, 12000,
          ${status}, ${'2026-11-26T13:00:00Z'})`;
    await hold('2026-11-26', 30);
    await hold('2026-11-25', 20);
    await hold('2026-11-26', 999, 'voided'); // resolved: ignored
    await hold('2026-10-30', 77); // last month: ignored
    const list = await api('GET', children(mk.id), w.alice.token);
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
    await api('PATCH', `${children(mk.id)}/${c.id}`, w.alice.token, { limit_daily_ngonka: 100 });
    const one = await api('GET', `${children(mk.id)}/${c.id}`, w.alice.token);
    expect(one.body.usage.daily_remaining_ngonka).toBe('0'); // never negative
    clock.set('2026-12-01T00:00:00Z');
    const nextMonth = await api('GET', `${children(mk.id)}/${c.id}`, w.alice.token);
    expect(nextMonth.body.usage).toMatchObject({ monthly_spent_ngonka: '0', requests_this_month: 0 });
  });
});
