import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';
import { signSession } from '../../shared/jwt.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { spawnRoleProcess, stopProcess } from '../helpers/worker-process.js';

// Without JWT_SECRET (development) the api signs sessions with its database's own key (migration
// 036): a session one api process gave is good at another, and after a restart. A key made per
// process refused both, and the dashboard logged its owner out at every restart.
let env: TestEnv;
const apis: ChildProcess[] = [];
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await Promise.all(apis.map((api) => stopProcess(api)));
  await env?.close();
});

/** An api process on this file's database with JWT_SECRET unset; its base URL once it answers. */
async function apiWithoutJwtSecret(): Promise<string> {
  const port = await freePort();
  // The simulator is not called: no request here runs inference.
  apis.push(spawnRoleProcess(env, 'api', [], { PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: '' }));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    'api listening',
    async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok === true,
    60_000,
  );
  return base;
}

describe('sessions without JWT_SECRET', () => {
  it('are good at every api process of the database, and a token signed otherwise is not', async () => {
    const first = await apiWithoutJwtSecret();
    const email = `s-${randomBytes(4).toString('hex')}@example.com`;
    const registered = await call(first, 'POST', '/api/auth/register', {
      body: { email, password: 'correct horse battery' },
    });
    expect(registered.status).toBe(201);
    const token = registered.body.token as string;

    // Another process (as a restart or a second api behind a balancer is).
    const second = await apiWithoutJwtSecret();
    const account = await call(second, 'GET', '/api/account', { token });
    expect(account.status).toBe(200);
    expect(account.body.email).toBe(email);

    const forged = await signSession(randomBytes(32).toString('hex'), account.body.id, 3600);
    expect((await call(second, 'GET', '/api/account', { token: forged })).status).toBe(401);
  }, 120_000);
});
