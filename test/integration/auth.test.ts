import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSession } from '../../shared/jwt.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createCustomer } from '../helpers/customer.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

const MAX_ATTEMPTS = 3;
let env: TestEnv;
let server: TestServer;

beforeAll(async () => {
  env = await createTestEnv({ env: { LOGIN_MAX_ATTEMPTS: String(MAX_ATTEMPTS) } });
  server = await startTestServer(env.ctx);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

let seq = 0;
const uniqueEmail = (tag: string) => `${tag}-${++seq}@example.com`;

async function register(email: string, password = 'correct horse', extra: Record<string, unknown> = {}) {
  return call(server.url, 'POST', '/api/auth/register', { body: { email, password, ...extra } });
}

function login(email: string, password: string, ip?: string) {
  return call(server.url, 'POST', '/api/auth/login', {
    body: { email, password },
    headers: ip ? { 'x-forwarded-for': ip } : {},
  });
}

describe('auth: happy', () => {
  it('registers, logs in and reads the account with the session token', async () => {
    const email = uniqueEmail('alice');
    const reg = await register(`  ${email.toUpperCase()} `);
    expect(reg.status).toBe(201);
    expect(reg.body.account).toMatchObject({
      email,
      balance_ngonka: '0',
      held_ngonka: '0',
      available_ngonka: '0',
      referred_by: null,
    });
    expect(reg.body.account.id).toMatch(/^acct_/);
    expect(reg.body.account.referral_code).toMatch(/^[0-9A-Z]{8}$/);
    expect(typeof reg.body.token).toBe('string');

    const res = await login(email, 'correct horse');
    expect(res.status).toBe(200);
    const me = await call(server.url, 'GET', '/api/account', { token: res.body.token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual(reg.body.account);
  });

  it('records the referral chain: B with A’s code, C with B’s code', async () => {
    const a = (await register(uniqueEmail('ref-a'))).body.account;
    const b = await register(uniqueEmail('ref-b'), 'correct horse', { referral_code: a.referral_code });
    expect(b.status).toBe(201);
    expect(b.body.account.referred_by).toBe(a.id);
    // Codes are matched case-insensitively.
    const c = await register(uniqueEmail('ref-c'), 'correct horse', {
      referral_code: b.body.account.referral_code.toLowerCase(),
    });
    expect(c.status).toBe(201);
    expect(c.body.account.referred_by).toBe(b.body.account.id);
    // One pasted with spaces around it is the code.
    const padded = await register(uniqueEmail('ref-pad'), 'correct horse', {
      referral_code: ` ${a.referral_code}\t`,
    });
    expect(padded.body.account?.referred_by, JSON.stringify(padded.body)).toBe(a.id);
    // A null or empty code, as forms send an empty optional field, is no code.
    for (const none of [null, '', '  ']) {
      const d = await register(uniqueEmail('ref-d'), 'correct horse', { referral_code: none });
      expect(d.status, JSON.stringify(d.body)).toBe(201);
      expect(d.body.account.referred_by).toBeNull();
    }
    const rows = await env.ctx.sql<{ id: string; referred_by: string | null }[]>`
      select id, referred_by from accounts where id in (${b.body.account.id}, ${c.body.account.id})`;
    expect(new Map(rows.map((r) => [r.id, r.referred_by]))).toEqual(
      new Map([
        [b.body.account.id, a.id],
        [c.body.account.id, b.body.account.id],
      ]),
    );
  });

  it('creates the account and its customer ledger account together', async () => {
    const acct = (await register(uniqueEmail('ledger'))).body.account;
    const [row] = await env.ctx.sql`select kind, balance from ledger_accounts where id = ${acct.id}`;
    expect(row).toEqual({ kind: 'customer', balance: 0n });
  });

  it('logs in with the email in any case and surrounding spaces', async () => {
    const email = uniqueEmail('casey');
    await register(email);
    expect((await login(` ${email.toUpperCase()}`, 'correct horse')).status).toBe(200);
  });
});

describe('auth: error', () => {
  it('refuses a duplicate email with 409 conflict naming email', async () => {
    const email = uniqueEmail('dup');
    expect((await register(email)).status).toBe(201);
    const again = await register(email.toUpperCase());
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ type: 'conflict', param: 'email' });
  });

  it.each([
    [{ password: 'correct horse' }, 'email'],
    [{ email: 'not-an-email', password: 'correct horse' }, 'email'],
    [{ email: `${'a'.repeat(250)}@example.com`, password: 'correct horse' }, 'email'],
    [{ email: 'x@example.com', password: 'short' }, 'password'],
    [{ email: 'x@example.com', password: 'p'.repeat(201) }, 'password'],
    [{ email: 'x@example.com', password: 12345678 }, 'password'],
    [{ email: 'x@example.com', password: 'correct horse', admin: true }, 'admin'],
    [{ email: 'x@example.com', password: 'correct horse', referral_code: 'NOSUCHCD' }, 'referral_code'],
    [{ email: 'x@example.com', password: 'correct horse', referral_code: 'bad code!' }, 'referral_code'],
  ])('register %j → 400 naming %s', async (body, param) => {
    const res = await call(server.url, 'POST', '/api/auth/register', { body });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it("says a short password's rule in words", async () => {
    const res = await call(server.url, 'POST', '/api/auth/register', {
      body: { email: uniqueEmail('short'), password: 'short' },
    });
    expect(res.body.error.message).toBe('password: must be at least 8 characters');
  });

  it('validates the login body', async () => {
    const res = await call(server.url, 'POST', '/api/auth/login', { body: { email: 'x@example.com' } });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('password');
  });

  it('answers an unknown email and a wrong password with the same 401', async () => {
    const email = uniqueEmail('same');
    await register(email);
    const wrong = await login(email, 'wrong password', '10.1.0.1');
    const unknown = await login(uniqueEmail('nobody'), 'wrong password', '10.1.0.1');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.error.type).toBe('authentication_error');
    expect(unknown.body.error).toEqual(wrong.body.error);
  });
});

describe('auth: security', () => {
  it('rejects a missing, tampered, foreign-secret, unsigned (alg none), expired, endless or too old session with 401', async () => {
    const acct = (await register(uniqueEmail('jwt'))).body.account;
    const good = await signSession(env.config.JWT_SECRET, acct.id, 60);
    const [h, p, s] = good.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'acct_someone_else' })).toString('base64url');
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(acct.id)
      .setIssuer('gonka-gateway')
      .setIssuedAt(past)
      .setExpirationTime(past + 60)
      .sign(new TextEncoder().encode(env.config.JWT_SECRET));
    const foreign = await signSession('x'.repeat(64), acct.id, 60);
    // Signed with the right secret but without an expiry: it would never stop working.
    const endless = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(acct.id)
      .setIssuer('gonka-gateway')
      .sign(new TextEncoder().encode(env.config.JWT_SECRET));
    // Signed with the right secret, issued longer ago than a session lives, with an expiry decades
    // away; and one that does not say when it was issued.
    const ancient = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(acct.id)
      .setIssuer('gonka-gateway')
      .setIssuedAt(Math.floor(Date.now() / 1000) - env.config.JWT_TTL_SECONDS - 60)
      .setExpirationTime('100y')
      .sign(new TextEncoder().encode(env.config.JWT_SECRET));
    // Expired a few seconds ago: it ends at its exp, not some tolerance later.
    const justExpired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(acct.id)
      .setIssuer('gonka-gateway')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 65)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
      .sign(new TextEncoder().encode(env.config.JWT_SECRET));
    const undated = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(acct.id)
      .setIssuer('gonka-gateway')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(env.config.JWT_SECRET));
    // The good token's claims, unsigned: `alg: none` must never be taken as a session.
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`;

    // Signed by an api process whose clock runs a few seconds ahead of this one's: still a session.
    const ahead = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(acct.id)
      .setIssuer('gonka-gateway')
      .setIssuedAt(Math.floor(Date.now() / 1000) + 10)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(env.config.JWT_SECRET));
    for (const token of [good, ahead])
      expect((await call(server.url, 'GET', '/api/account', { token })).status).toBe(200);
    const refused = [
      undefined,
      `${h}.${forged}.${s}`,
      expired,
      justExpired,
      foreign,
      endless,
      ancient,
      undated,
      unsigned,
    ];
    for (const token of [...refused, 'garbage']) {
      const res = await call(server.url, 'GET', '/api/account', { token });
      expect(res.status).toBe(401);
      expect(res.body.error.type).toBe('authentication_error');
    }
  });

  it('treats a valid session for an account this database lacks as no session, on every route', async () => {
    const ghost = await signSession(env.config.JWT_SECRET, 'acct_never_registered', 60);
    for (const [method, path, body] of [
      ['GET', '/api/account', undefined],
      ['GET', '/api/management/keys', undefined],
      ['POST', '/api/management/keys', { name: 'k' }],
      ['GET', '/api/webhooks', undefined],
    ] as const) {
      const res = await call(server.url, method, path, { token: ghost, body });
      expect([path, res.status, res.body.error?.message]).toEqual([
        path,
        401,
        'Account not found for this session',
      ]);
    }
  });

  it('throttles failed logins per email+IP, refusing even the right password', async () => {
    const email = uniqueEmail('throttle');
    await register(email);
    const ip = '10.2.0.1';
    for (let i = 0; i < MAX_ATTEMPTS; i++)
      expect((await login(email, 'wrong password', ip)).status).toBe(401);

    const blocked = await login(email, 'correct horse', ip);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.type).toBe('rate_limit_exceeded');
    const retryMs = blocked.body.error.retry_after_ms;
    expect(retryMs).toBeGreaterThan(0);
    expect(retryMs).toBeLessThanOrEqual(env.config.LOGIN_THROTTLE_WINDOW_SECONDS * 1000);
    expect(blocked.headers.get('retry-after')).toBe(String(Math.ceil(retryMs / 1000)));
    // The message says when, as a person reads it (the form shows it as it is).
    expect(blocked.body.error.message).toMatch(
      /^Too many failed login attempts; try again in about \d+ (seconds?|minutes)$/,
    );

    // Another IP for the same email, and another email from the same IP, are unaffected.
    expect((await login(email, 'correct horse', '10.2.0.2')).status).toBe(200);
    const other = uniqueEmail('throttle-other');
    await register(other);
    expect((await login(other, 'correct horse', ip)).status).toBe(200);
  });

  it('keys the counter on sha256(email|ip) and lets the user in once the window ends', async () => {
    const email = uniqueEmail('window');
    await register(email);
    const ip = '10.3.0.1';
    for (let i = 0; i < MAX_ATTEMPTS; i++) await login(email, 'wrong password', ip);
    expect((await login(email, 'correct horse', ip)).status).toBe(429);

    const digest = createHash('sha256').update(`${email}|${ip}`).digest('hex');
    const key = `${env.config.REDIS_PREFIX}:login:${digest}`;
    expect(await env.ctx.redis.pttl(key)).toBeGreaterThan(0);
    await env.ctx.redis.pexpire(key, 1); // the window ends
    await new Promise((r) => setTimeout(r, 10));
    expect((await login(email, 'correct horse', ip)).status).toBe(200);
  });

  it('clears the counter on success, so earlier failures stop counting', async () => {
    const email = uniqueEmail('clear');
    await register(email);
    const ip = '10.4.0.1';
    for (let i = 0; i < MAX_ATTEMPTS - 1; i++) await login(email, 'wrong password', ip);
    expect((await login(email, 'correct horse', ip)).status).toBe(200);
    for (let i = 0; i < MAX_ATTEMPTS - 1; i++)
      expect((await login(email, 'wrong password', ip)).status).toBe(401);
    expect((await login(email, 'correct horse', ip)).status).toBe(200);
  });

  it('lets no more than the allowed guesses through when they arrive in parallel', async () => {
    const email = uniqueEmail('burst');
    await register(email);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => login(email, 'wrong password', '10.5.0.1')),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(MAX_ATTEMPTS);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10 - MAX_ATTEMPTS);
  });

  it('never returns the password hash', async () => {
    const reg = await register(uniqueEmail('nohash'));
    expect(JSON.stringify(reg.body)).not.toMatch(/scrypt|password/);
  });
});

describe('auth: logout', () => {
  it('ends the session on the server: that token is refused everywhere, other sessions go on', async () => {
    const email = uniqueEmail('logout');
    const reg = await register(email);
    const other = (await login(email, 'correct horse')).body.token;
    const token = reg.body.token;
    const copy = { token }; // e.g. a second tab, or a token someone copied
    expect((await call(server.url, 'GET', '/api/account', copy)).status).toBe(200);

    const out = await call(server.url, 'POST', '/api/auth/logout', { token });
    expect(out.status).toBe(204);
    for (const [method, path] of [
      ['GET', '/api/account'],
      ['GET', '/api/management/keys'],
      ['POST', '/api/auth/logout'],
    ] as const) {
      const res = await call(server.url, method, path, copy);
      expect([path, res.status, res.body.error?.type, res.body.error?.message]).toEqual([
        path,
        401,
        'authentication_error',
        'This session was logged out',
      ]);
    }
    expect((await call(server.url, 'GET', '/api/account', { token: other })).status).toBe(200);
  });

  it('needs a session: none, or a key, is refused', async () => {
    expect((await call(server.url, 'POST', '/api/auth/logout', {})).status).toBe(401);
    const c = await createCustomer(env.ctx, server.url);
    const withKey = await call(server.url, 'POST', '/api/auth/logout', { token: c.mkKey });
    expect([withKey.status, withKey.body.error.type]).toEqual([403, 'permission_error']);
  });

  it('forgets a logged-out session once its token has expired anyway', async () => {
    const email = uniqueEmail('logout-expiry');
    const first = (await register(email)).body.token;
    await call(server.url, 'POST', '/api/auth/logout', { token: first });
    const jti = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).jti;
    // As if its hour were over: the next logout clears it.
    await env.ctx
      .sql`update revoked_sessions set expires_at = now() - interval '1 second' where jti = ${jti(first)}`;
    const second = (await login(email, 'correct horse')).body.token;
    await call(server.url, 'POST', '/api/auth/logout', { token: second });
    const left = await env.ctx
      .sql`select jti from revoked_sessions where jti in (${jti(first)}, ${jti(second)})`;
    expect(left.map((r) => r.jti)).toEqual([jti(second)]);
  });
});
