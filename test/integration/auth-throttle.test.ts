import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearLoginAttempts } from '../../shared/accounts/attempt-throttle.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

// Per-IP throttles beside API.md's per email+IP one: registrations from one address, and failed
// logins from one address whatever the emails. Each test uses addresses of its own (X-Forwarded-For,
// believed from loopback: TRUST_PROXY's default).
const REGISTER_MAX = 3;
const IP_FAILURES_MAX = 4;
let env: TestEnv;
let server: TestServer;

beforeAll(async () => {
  env = await createTestEnv({
    env: {
      REGISTER_MAX_PER_IP: String(REGISTER_MAX),
      LOGIN_MAX_FAILURES_PER_IP: String(IP_FAILURES_MAX),
      LOGIN_MAX_ATTEMPTS: '3',
    },
  });
  server = await startTestServer(env.ctx);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

let seq = 0;
const email = (tag: string) => `${tag}-${++seq}@example.com`;
const from = (ip: string) => ({ 'x-forwarded-for': ip });
const register = (address: string, ip: string) =>
  call(server.url, 'POST', '/api/auth/register', {
    body: { email: address, password: 'correct horse' },
    headers: from(ip),
  });
const login = (address: string, password: string, ip: string) =>
  call(server.url, 'POST', '/api/auth/login', { body: { email: address, password }, headers: from(ip) });

describe('throttles per client address', () => {
  it('refuses registrations from one address past REGISTER_MAX_PER_IP, with Retry-After', async () => {
    const taken = email('taken');
    for (let i = 0; i < REGISTER_MAX; i++) {
      const res = await register(i === 0 ? taken : email('reg'), '10.9.0.1');
      expect(res.status).toBe(201);
    }
    const refused = await register(email('reg'), '10.9.0.1');
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ type: 'rate_limit_exceeded' });
    expect(refused.body.error.retry_after_ms).toBeGreaterThan(0);
    expect(refused.body.error.retry_after_ms).toBeLessThanOrEqual(
      env.config.REGISTER_THROTTLE_WINDOW_SECONDS * 1000,
    );
    expect(refused.headers.get('retry-after')).toBe(
      String(Math.ceil(refused.body.error.retry_after_ms / 1000)),
    );
    // Past the limit the address learns nothing about which emails have accounts.
    expect((await register(taken, '10.9.0.1')).status).toBe(429);
    expect((await register(email('reg'), '10.9.0.2')).status).toBe(201);
  });

  it('refuses logins from an address that failed for many emails, even with a right password', async () => {
    const ip = '10.9.1.1';
    const own = email('own');
    expect((await register(own, '10.9.1.99')).status).toBe(201);
    // One failure each for other emails: none reaches the per email+IP limit (3).
    for (let i = 0; i < IP_FAILURES_MAX; i++)
      expect((await login(email('nobody'), 'guess', ip)).status).toBe(401);
    const refused = await login(own, 'correct horse', ip);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect((await login(own, 'correct horse', '10.9.1.2')).status).toBe(200);
  });

  it('counts an IPv6 client by its /64: a new address on the same link is the same client', async () => {
    const own = email('v6');
    expect((await register(own, '10.9.3.99')).status).toBe(201);
    // Each guess from another address of one /64 (a subscriber's link holds 2^64 of them).
    for (let i = 1; i <= 3; i++) expect((await login(own, 'guess', `2001:db8:7:1::${i}`)).status).toBe(401);
    expect((await login(own, 'guess', '2001:db8:7:1:ffff:1:2:3')).status).toBe(429);
    // Another /64 is another client.
    expect((await login(own, 'correct horse', '2001:db8:7:2::1')).status).toBe(200);
  });

  it('does not count an address’s successful logins against it', async () => {
    const ip = '10.9.2.1';
    const own = email('office');
    expect((await register(own, '10.9.2.99')).status).toBe(201);
    for (let i = 0; i < IP_FAILURES_MAX * 3; i++)
      expect((await login(own, 'correct horse', ip)).status).toBe(200);
    for (let i = 0; i < IP_FAILURES_MAX; i++)
      expect((await login(email('nobody'), 'guess', ip)).status).toBe(401);
    expect((await login(own, 'correct horse', ip)).status).toBe(429);
  });
});

it('leaves no count behind when a success finds its address’s window gone', async () => {
  const ip = '10.9.4.1';
  const own = email('late');
  expect((await register(own, '10.9.4.99')).status).toBe(201);
  // The window ends between the success's own count and its refund: nothing may be credited.
  const key = `${env.config.REDIS_PREFIX}:login-ip:${createHash('sha256').update(ip).digest('hex')}`;
  await clearLoginAttempts(env.ctx, own, ip);
  expect(await env.ctx.redis.exists(key)).toBe(0);
  for (let i = 0; i < IP_FAILURES_MAX; i++)
    expect((await login(email('nobody'), 'guess', ip)).status).toBe(401);
  expect((await login(own, 'correct horse', ip)).status).toBe(429);
});

describe('headers of API answers', () => {
  it('are never cached nor sniffed: /api and /v1, fast path included', async () => {
    const reg = await register(email('headers'), '10.9.3.1');
    const answers = [
      reg,
      await call(server.url, 'GET', '/api/account', { token: reg.body.token }),
      await call(server.url, 'GET', '/v1/models'),
      await call(server.url, 'POST', '/v1/chat/completions', { body: {} }),
    ];
    for (const res of answers) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});
