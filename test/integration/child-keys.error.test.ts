import { describe, expect, it } from 'vitest';
import { childKeyWorld, NOW } from '../helpers/child-key-world.js';
import { call } from '../helpers/http.js';

const INEXACT =
  'must be an integer of nGNK, written without a fraction or an exponent (a string for amounts past 2^53)';

const w = childKeyWorld();
const { api, children, createMk, createChild, childState } = w;

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
    [{ name: 'c', expires_at: '9999-12-31T23:59:59-14:00' }, 'expires_at'], // year 10000 in UTC
    [{ name: 'c', expires_at: '2026-11-26T11:59:59Z' }, 'expires_at'],
    [{ name: 'c', expires_at: NOW }, 'expires_at'],
    [{ name: 'c', metadata: [1, 2] }, 'metadata'],
    [{ name: 'c', metadata: 'text' }, 'metadata'],
    [{ name: 'c', metadata: { big: 'x'.repeat(16 * 1024) } }, 'metadata'],
    [{ name: 'c', metadata: { nul: 'a\u0000b' } }, 'metadata.nul'],
    // An own `__proto__` key (as JSON.parse makes one) would be dropped without a word.
    [{ name: 'c', metadata: JSON.parse('{"__proto__": {"x": 1}, "a": 1}') }, 'metadata'],
    [{ name: 'c', status: 'active' }, 'status'],
  ];
  it.each(invalid)('rejects create body %j naming %s', async (body, param) => {
    const mk = await createMk();
    const res = await api('POST', children(mk.id), w.alice.token, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('says what a valid expires_at looks like, whatever was wrong with it', async () => {
    const mk = await createMk();
    for (const expires_at of ['2027-02-29T00:00:00Z', '2027-01-01T03:00:00+0100', 1798761600000]) {
      const res = await api('POST', children(mk.id), w.alice.token, { name: 'c', expires_at });
      expect([res.status, res.body.error.param]).toEqual([400, 'expires_at']);
      expect(res.body.error.message).toContain('e.g. 2027-01-01T03:00:00Z or 2027-01-01T03:00:00+01:00');
    }
  });

  it('refuses metadata nesting thousands deep with a 400, not a 500', async () => {
    const mk = await createMk();
    const body = `{"name":"c","metadata":{"deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    const res = await fetch(`${w.server.url}${children(mk.id)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.alice.token}`, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toBe('The JSON body nests more than 64 levels deep');
  });

  it('takes metadata at its size limit however the client escapes it (\\uXXXX: six bytes a character)', async () => {
    const mk = await createMk();
    const text = '<'.repeat(16 * 1024 - 20); // 16 KiB less the key and quotes, compact
    const escaped = JSON.stringify({ name: 'c', metadata: { note: text } }).replaceAll('<', '\\u003c');
    expect(escaped.length).toBeGreaterThan(90_000);
    const res = await fetch(`${w.server.url}${children(mk.id)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.alice.token}`, 'content-type': 'application/json' },
      body: escaped,
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as any).metadata.note).toBe(text);
  });

  it('says why an amount is refused, whatever its JSON type', async () => {
    const mk = await createMk();
    const cases: [unknown, string][] = [
      [1.5, INEXACT],
      [true, 'must be a string of digits or a JSON integer of nGNK'],
      [{ ngonka: 1 }, 'must be a string of digits or a JSON integer of nGNK'],
      ['1.5', 'must be a non-negative integer string of nGNK'],
      [-1, 'must be non-negative'],
    ];
    for (const [limit, why] of cases) {
      const res = await api('POST', children(mk.id), w.alice.token, { name: 'c', limit_daily_ngonka: limit });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe(`limit_daily_ngonka: ${why}`);
    }
  });

  it('says what the largest limit is, for too large a string or number', async () => {
    const mk = await createMk();
    for (const limit of ['9223372036854775808', '99999999999999999999', '1'.repeat(5000)]) {
      const res = await api('POST', children(mk.id), w.alice.token, { name: 'c', limit_daily_ngonka: limit });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe('limit_daily_ngonka: must be at most 9223372036854775807 nGNK');
    }
    // A JSON number past 2^53 may already have lost digits: such amounts come as strings.
    for (const limit of [9007199254740992, 2 ** 60]) {
      const res = await api('POST', children(mk.id), w.alice.token, { name: 'c', limit_daily_ngonka: limit });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe(
        'limit_daily_ngonka: must be at most 9007199254740991 as a JSON number; send larger amounts as a string',
      );
    }
  });

  it('refuses a JSON number written with a fraction or an exponent, though parsing makes it an integer', async () => {
    // keys32: `4.9999999999999999` parses as 5 and `…990.6` as …991: an amount nobody sent.
    const mk = await createMk();
    const literals = ['4.9999999999999999', '9007199254740990.6', '1.0', '1e3', '1E0', '0e0', '1e30'];
    for (const literal of literals) {
      const res = await call(w.server.url, 'POST', children(mk.id), {
        token: w.alice.token,
        rawBody: `{"name": "c", "limit_monthly_ngonka" : ${literal}}`,
      });
      expect(res.status, literal).toBe(400);
      expect(res.body.error).toMatchObject({
        param: 'limit_monthly_ngonka',
        message: `limit_monthly_ngonka: ${INEXACT}`,
      });
    }
    // Below the top level (a key's metadata) any number is the owner's own.
    const res = await call(w.server.url, 'POST', children(mk.id), {
      token: w.alice.token,
      rawBody: '{"name": "c", "limit_daily_ngonka": 5, "metadata": {"rate_ngonka": 1.5, "n": 2e3}}',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ limit_daily_ngonka: '5', metadata: { rate_ngonka: 1.5, n: 2000 } });
  });

  it('words the limits of an RPM and of a page as what they are', async () => {
    const mk = await createMk();
    // Past 2^53 zod's int() refuses an integer too: it is past the maximum, not "not an integer" (keys32).
    for (const rpm of ['1000001', '9007199254740993']) {
      const res = await call(w.server.url, 'POST', children(mk.id), {
        token: w.alice.token,
        rawBody: `{"name": "c", "rate_limit_rpm": ${rpm}}`,
      });
      expect(res.body.error.message, rpm).toBe('rate_limit_rpm: must be at most 1000000');
    }
    for (const limit of ['0', '1001']) {
      const res = await api('GET', `${children(mk.id)}?limit=${limit}`, w.alice.token);
      expect(res.body.error.message, limit).toBe('limit: must be a whole number from 1 to 1000');
    }
  });

  it('takes a limit past 2^53 as a string, to the exact nGNK', async () => {
    const mk = await createMk();
    for (const limit of ['9007199254740993', '9223372036854775807']) {
      const res = await api('POST', children(mk.id), w.alice.token, { name: 'c', limit_daily_ngonka: limit });
      expect(res.status).toBe(201);
      expect(res.body.limit_daily_ngonka).toBe(limit);
      expect(res.body.usage.daily_remaining_ngonka).toBe(limit);
    }
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
    const res = await api('PATCH', `${children(mk.id)}/${c.id}`, w.alice.token, body);
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
    const res = await api('GET', `${children(mk.id)}?status=gone`, w.alice.token);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('status');
  });

  it('refuses to modify a deleted child (409)', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    await api('DELETE', `${children(mk.id)}/${c.id}`, w.alice.token);
    for (const body of [{ status: 'active' }, { name: 'back' }, {}]) {
      const res = await api('PATCH', `${children(mk.id)}/${c.id}`, w.alice.token, body);
      expect(res.status).toBe(409);
      expect(res.body.error.type).toBe('conflict');
    }
    expect((await childState(c.id)).st).toBe('deleted');
  });

  it('refuses to create or change children under a revoked management key (409)', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    await api('DELETE', `/api/management/keys/${mk.id}`, w.alice.token);
    const create = await api('POST', children(mk.id), w.alice.token, { name: 'late' });
    expect(create.status).toBe(409);
    expect(create.body.error.type).toBe('conflict');
    const patch = await api('PATCH', `${children(mk.id)}/${c.id}`, w.alice.token, { name: 'x' });
    expect(patch.status).toBe(409);
    expect((await api('GET', children(mk.id), w.alice.token)).body.data).toHaveLength(1);
  });

  it('answers 404 for unknown management keys and children', async () => {
    const mk = await createMk();
    expect((await api('GET', children('mk_nope'), w.alice.token)).status).toBe(404);
    expect((await api('POST', children('mk_nope'), w.alice.token, { name: 'c' })).status).toBe(404);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await api(
        method,
        `${children(mk.id)}/ck_nope`,
        w.alice.token,
        method === 'PATCH' ? {} : undefined,
      );
      expect(res.status, method).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
  });
});
