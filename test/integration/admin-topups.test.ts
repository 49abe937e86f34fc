import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminTopup } from '../../shared/accounts/admin-topup.js';
import { signSession } from '../../shared/jwt.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

const ADMIN = 'test-admin-token-0123456789';
const RATE = 2_000_000_000n; // nGNK per USDT
let env: TestEnv;
let server: TestServer;

beforeAll(async () => {
  env = await createTestEnv({ env: { ADMIN_TOKEN: ADMIN, USDT_RATE_NGONKA: RATE.toString() } });
  server = await startTestServer(env.ctx);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

interface Owner {
  id: string;
  email: string;
  token: string;
}

async function registerOwner(): Promise<Owner> {
  const email = `${randomBytes(6).toString('hex')}@example.com`;
  const res = await call(server.url, 'POST', '/api/auth/register', {
    body: { email, password: 'correct horse' },
  });
  expect(res.status).toBe(201);
  return { id: res.body.account.id, email, token: res.body.token };
}

const ref = () => `pay-${randomBytes(6).toString('hex')}`;
const topup = (body: unknown, opts: { token?: string } = { token: ADMIN }) =>
  call(server.url, 'POST', '/api/admin/topups', { token: opts.token, body });
const balanceOf = async (o: Owner) =>
  (await call(server.url, 'GET', '/api/account', { token: o.token })).body.balance_ngonka;

describe('admin top-ups: happy', () => {
  it('credits nGNK by account id and shows it on the account and its ledger', async () => {
    const owner = await registerOwner();
    const reference = ref();
    const res = await topup({ account_id: owner.id, amount_ngonka: '5000000000', reference });
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(res.body).toMatchObject({
      kind: 'topup',
      direction: 'credit',
      amount_ngonka: '5000000000',
      balance_after_ngonka: '5000000000',
      ref: reference,
      account_id: owner.id,
    });
    expect(res.body.metadata).toEqual({});
    expect(res.body.id).toMatch(/^le_[\w-]{11}$/);
    expect(await balanceOf(owner)).toBe('5000000000');
    const ledger = await call(server.url, 'GET', '/api/account/ledger', { token: owner.token });
    const { account_id: _, ...entry } = res.body;
    expect(ledger.body.data).toEqual([entry]);
  });

  it('credits USDT by email at the configured rate and records the rate', async () => {
    const owner = await registerOwner();
    const res = await topup({ email: owner.email.toUpperCase(), amount_usdt: '12.5', reference: ref() });
    expect(res.status).toBe(201);
    expect(res.body.amount_ngonka).toBe('25000000000'); // 12.5 × 2 GNK
    expect(res.body.metadata).toEqual({ amount_usdt: '12.5', usdt_rate_ngonka: RATE.toString() });
    expect(res.body.account_id).toBe(owner.id);
    // A JSON number works too, down to the token's 6 decimals.
    const small = await topup({ account_id: owner.id, amount_usdt: 0.000001, reference: ref() });
    expect(small.status).toBe(201);
    expect(small.body.amount_ngonka).toBe('2000');
    expect(small.body.metadata.amount_usdt).toBe('0.000001');
    // As a string, every digit counts.
    const exact = await topup({ account_id: owner.id, amount_usdt: '3.123456', reference: ref() });
    expect(exact.body.amount_ngonka).toBe('6246912000');
    expect(await balanceOf(owner)).toBe('31246914000');
  });

  it('answers a replayed reference as the first call, 201 and the same entry, and credits once', async () => {
    const owner = await registerOwner();
    const body = { account_id: owner.id, amount_ngonka: 700, reference: ref() };
    const first = await topup(body);
    const again = await topup(body);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.body).toEqual(first.body);
    // The same order by email is the same top-up.
    const byEmail = await topup({ email: owner.email, amount_ngonka: '700', reference: body.reference });
    expect(byEmail.status).toBe(201);
    expect(byEmail.headers.get('idempotent-replayed')).toBe('true');
    expect(await balanceOf(owner)).toBe('700');
  });

  it('puts a new account’s top-up in Redis at once, so its first request need not load the balance', async () => {
    const owner = await registerOwner();
    const redisBalance = () => env.ctx.redis.get(env.ctx.keys.balance(owner.id));
    // Registration publishes the empty balance: a top-up is added to it there, and the first
    // request's load finds it instead of taking Redis for having lost the account.
    expect(await redisBalance()).toBe('0');
    expect((await topup({ account_id: owner.id, amount_ngonka: '700', reference: ref() })).status).toBe(201);
    expect(await redisBalance()).toBe('700');
  });

  it('credits an amount past 2^53 sent as a string to the exact nGNK, and refuses one past the largest balance', async () => {
    const owner = await registerOwner();
    const big = '9007199254740993'; // 2^53 + 1: no JSON number can carry it
    expect((await topup({ account_id: owner.id, amount_ngonka: big, reference: ref() })).status).toBe(201);
    expect(await balanceOf(owner)).toBe(big);
    expect(await env.ctx.redis.get(env.ctx.keys.balance(owner.id))).toBe(big);
    // A balance lives in a Postgres bigint: a credit taking it past 2^63 - 1 is a 400, not a 500.
    const over = await topup({
      account_id: owner.id,
      amount_ngonka: '9223372036854775807',
      reference: ref(),
    });
    expect(over.status).toBe(400);
    expect(over.body.error.param).toBe('amount_ngonka');
    expect(await balanceOf(owner)).toBe(big);
    // The top-up source holds every top-up, negated: a USDT order that would take it past the same
    // bound is named by its own field, even for an account with nothing on it.
    const empty = await registerOwner();
    const usdt = await topup({ account_id: empty.id, amount_usdt: '4611686018', reference: ref() });
    expect(usdt.status).toBe(400);
    expect(usdt.body.error.param).toBe('amount_usdt');
    expect(usdt.body.error.message).toContain('the total of all top-ups');
  });

  it('credits nothing for an amount written more precisely than parsing keeps', async () => {
    // keys32: 4.9999999999999999 parses as 5, and credited 5 nGNK nobody sent.
    const owner = await registerOwner();
    const res = await call(server.url, 'POST', '/api/admin/topups', {
      token: ADMIN,
      rawBody: `{"account_id": "${owner.id}", "amount_ngonka": 4.9999999999999999, "reference": "${ref()}"}`,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('amount_ngonka');
    // Nor a USDT amount past its 6 decimals: 0.99999999999999999 parses as 1 (review32).
    const usdt = await call(server.url, 'POST', '/api/admin/topups', {
      token: ADMIN,
      rawBody: `{"account_id": "${owner.id}", "amount_usdt": 0.99999999999999999, "reference": "${ref()}"}`,
    });
    expect([usdt.status, usdt.body.error.param]).toEqual([400, 'amount_usdt']);
    expect(await balanceOf(owner)).toBe('0');
  });

  it('accepts the token in x-admin-token as well', async () => {
    const owner = await registerOwner();
    const res = await call(server.url, 'POST', '/api/admin/topups', {
      headers: { 'x-admin-token': ADMIN },
      body: { account_id: owner.id, amount_ngonka: '1', reference: ref() },
    });
    expect(res.status).toBe(201);
  });
});

describe('admin top-ups: error', () => {
  it('refuses the same reference for another amount or account with 409', async () => {
    const a = await registerOwner();
    const b = await registerOwner();
    const reference = ref();
    expect((await topup({ account_id: a.id, amount_ngonka: '100', reference })).status).toBe(201);
    const otherAmount = await topup({ account_id: a.id, amount_ngonka: '101', reference });
    expect(otherAmount.status).toBe(409);
    expect(otherAmount.body.error).toMatchObject({ type: 'conflict', param: 'reference' });
    expect((await topup({ account_id: b.id, amount_ngonka: '100', reference })).status).toBe(409);
    expect(await balanceOf(a)).toBe('100');
    expect(await balanceOf(b)).toBe('0');
  });

  it('refuses a reference used for a USDT order when it comes back as an nGNK order of the same value', async () => {
    const a = await registerOwner();
    const reference = ref();
    expect((await topup({ account_id: a.id, amount_usdt: '1.5', reference })).status).toBe(201);
    const asNgonka = await topup({ account_id: a.id, amount_ngonka: '3000000000', reference });
    expect(asNgonka.status).toBe(409);
    expect(await balanceOf(a)).toBe('3000000000');
  });

  it('answers a USDT order retried after the rate changed with its first entry, crediting once', async () => {
    const a = await registerOwner();
    const reference = ref();
    const first = await topup({ account_id: a.id, amount_usdt: '2', reference });
    expect(first.body.amount_ngonka).toBe('4000000000');
    const later = { ...env.ctx, config: { ...env.ctx.config, USDT_RATE_NGONKA: RATE + 1n } };
    const again = await adminTopup(later, { account_id: a.id, amount_usdt: 2_000_000n, reference });
    expect(again.created).toBe(false);
    expect(again.entry).toMatchObject({ id: first.body.id, amount_ngonka: '4000000000' });
    expect(await balanceOf(a)).toBe('4000000000');
  });

  it('answers an unknown account or email with 404', async () => {
    for (const who of [{ account_id: 'acct_nosuchaccount' }, { email: 'nobody@example.com' }]) {
      const res = await topup({ ...who, amount_ngonka: '1', reference: ref() });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
  });

  it.each([
    [{ amount_ngonka: '1', reference: 'r' }, 'account_id'],
    [{ account_id: 'acct_x', email: 'a@example.com', amount_ngonka: '1', reference: 'r' }, 'email'],
    [{ account_id: 'acct_x', reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_ngonka: '1', amount_usdt: '1', reference: 'r' }, 'amount_usdt'],
    [{ account_id: 'acct_x', amount_ngonka: '0', reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_ngonka: '-5', reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_ngonka: 1.5, reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_ngonka: '1e9', reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_ngonka: '9223372036854775808', reference: 'r' }, 'amount_ngonka'],
    // Money has one spelling, the one the API writes: leading zeros are a typo, not a number.
    [{ account_id: 'acct_x', amount_ngonka: '01', reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_ngonka: `${'0'.repeat(20)}1`, reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_ngonka: 9007199254740992, reference: 'r' }, 'amount_ngonka'],
    [{ account_id: 'acct_x', amount_usdt: '1.0000001', reference: 'r' }, 'amount_usdt'],
    [{ account_id: 'acct_x', amount_usdt: '0', reference: 'r' }, 'amount_usdt'],
    [{ account_id: 'acct_x', amount_usdt: '999999999999', reference: 'r' }, 'amount_usdt'],
    // 16 significant digits: more than a JSON number is sure to carry exactly (a string would do).
    [{ account_id: 'acct_x', amount_usdt: 1234567890.123456, reference: 'r' }, 'amount_usdt'],
    [{ account_id: 'acct_x', amount_ngonka: '1' }, 'reference'],
    [{ account_id: 'acct_x', amount_ngonka: '1', reference: '' }, 'reference'],
    [{ account_id: 'acct_x', amount_ngonka: '1', reference: 'r'.repeat(201) }, 'reference'],
    [{ account_id: 'acct_x', amount_ngonka: '1', reference: 'a\u0000b' }, 'reference'],
    [{ email: 'not-an-email', amount_ngonka: '1', reference: 'r' }, 'email'],
    [{ account_id: 'acct_x', amount_ngonka: '1', reference: 'r', note: 'x' }, 'note'],
  ])('%j → 400 naming %s', async (body, param) => {
    const res = await topup(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });
});

describe('admin top-ups: security', () => {
  it('refuses a missing or wrong admin token with 401, and an owner session with 403', async () => {
    const owner = await registerOwner();
    const body = { account_id: owner.id, amount_ngonka: '1', reference: ref() };
    for (const token of [undefined, 'wrong-token-0123456789', `${ADMIN}x`]) {
      const res = await topup(body, { token });
      expect(res.status).toBe(401);
      expect(res.body.error.type).toBe('authentication_error');
    }
    // A valid credential of another kind, where it does not belong (API.md: "any other use").
    const session = await topup(body, { token: owner.token });
    expect(session.status).toBe(403);
    expect(session.body.error.type).toBe('permission_error');
    // Signed, but for no account here: no session, as on the owner routes.
    const orphan = await topup(body, { token: await signSession(env.config.JWT_SECRET, 'acct_gone', 60) });
    expect(orphan.status).toBe(401);
    const unknownKey = await topup(body, { token: 'gc-unknown0123456789' });
    expect(unknownKey.status).toBe(401);
    expect(unknownKey.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_unknown' });
    expect(await balanceOf(owner)).toBe('0');
  });

  it('credits exactly once when 20 replays of one reference race', async () => {
    const owner = await registerOwner();
    const body = { account_id: owner.id, amount_ngonka: '1000', reference: ref() };
    const results = await Promise.all(Array.from({ length: 20 }, () => topup(body)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    const replayed = results.filter((r) => r.headers.get('idempotent-replayed') === 'true');
    expect(replayed).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await balanceOf(owner)).toBe('1000');
    const [n] = await env.ctx.sql<{ n: bigint }[]>`
      select count(*)::bigint as n from transfers where kind = 'topup' and ref = ${body.reference}`;
    expect(n?.n).toBe(1n);
    // The system side moved by exactly the same amount: the transfer balances.
    const [sum] = await env.ctx.sql<{ s: bigint }[]>`
      select sum(p.amount)::bigint as s from postings p join transfers t on t.id = p.transfer_id
      where t.ref = ${body.reference}`;
    expect(sum?.s).toBe(0n);
  });

  it('keeps admin routes hidden (404) when ADMIN_TOKEN is unset', async () => {
    const off = await createTestEnv({ env: { ADMIN_TOKEN: '' } });
    const offServer = await startTestServer(off.ctx);
    try {
      for (const token of [undefined, ADMIN]) {
        const res = await call(offServer.url, 'POST', '/api/admin/topups', {
          token,
          body: { account_id: 'acct_x', amount_ngonka: '1', reference: 'r' },
        });
        expect(res.status).toBe(404);
        expect(res.body.error.type).toBe('not_found');
        // Worded as any unknown route's answer, full path and all: it said "No route for POST /"
        // (the path inside its router), which told the route apart from a missing one.
        expect(res.body.error.message).toBe('No route for POST /api/admin/topups');
      }
    } finally {
      await offServer.close();
      await off.close();
    }
  });

  it('throttles wrong admin tokens per address, counting none that was right', async () => {
    const strict = await createTestEnv({ env: { ADMIN_TOKEN: ADMIN, ADMIN_MAX_FAILURES_PER_IP: '3' } });
    const strictServer = await startTestServer(strict.ctx);
    const owner = await call(strictServer.url, 'POST', '/api/auth/register', {
      body: { email: `${randomBytes(6).toString('hex')}@example.com`, password: 'correct horse' },
    });
    const body = () => ({ account_id: owner.body.account.id, amount_ngonka: '1', reference: ref() });
    const post = (token: string) =>
      call(strictServer.url, 'POST', '/api/admin/topups', { token, body: body() });
    try {
      // Right tokens take nothing off the three wrong ones allowed.
      for (let i = 0; i < 3; i++) expect((await post(ADMIN)).status).toBe(201);
      for (let i = 0; i < 3; i++) expect((await post(`wrong-admin-token-${i}-0123456789`)).status).toBe(401);
      const refused = await post('wrong-admin-token-x-0123456789');
      expect(refused.status).toBe(429);
      expect(refused.body.error.type).toBe('rate_limit_exceeded');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // Until the window ends, the address is refused before any token is looked at, as a login is.
      expect((await post(ADMIN)).status).toBe(429);
      // The board's guesses count in the same window.
      const board = await fetch(`${strictServer.url}/admin/queues?token=wrong-admin-token-y-0123456789`);
      expect(board.status).toBe(429);
    } finally {
      await strictServer.close();
      await strict.close();
    }
  });
});
