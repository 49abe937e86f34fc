import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { settled } from '../helpers/books.js';
import { type CliRun, runCli } from '../helpers/cli.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

/**
 * `npm run seed-demo`: README's seed flow in one command against a running gateway. What it prints
 * must work as printed: the child key answers a chat, the account holds the credit, and a rerun
 * credits nothing more.
 */
const stack = useTestStack();

async function seedDemo(
  args: string[],
  vars: { DATABASE_URL?: string; NODE_ENV?: string } = {},
): Promise<CliRun> {
  return runCli(
    'seed-demo.ts',
    args,
    {
      DATABASE_URL: vars.DATABASE_URL ?? stack.env.config.DATABASE_URL,
      REDIS_URL: stack.env.config.REDIS_URL,
      REDIS_PREFIX: stack.env.config.REDIS_PREFIX,
      LOG_LEVEL: 'warn',
      ...(vars.NODE_ENV ? { NODE_ENV: vars.NODE_ENV } : {}),
    },
    30_000,
  );
}

describe('npm run seed-demo', () => {
  const email = `demo-${randomBytes(4).toString('hex')}@example.com`;
  const password = 'correct horse battery';

  it('registers, credits, makes the keys, and what it prints works; a rerun credits nothing', async () => {
    const url = stack.server.url;
    const first = await seedDemo([
      '--url',
      url,
      '--email',
      email,
      '--password',
      password,
      '--gnk',
      '3',
      '--json',
    ]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const demo = JSON.parse(first.stdout);
    expect(demo).toMatchObject({
      email,
      password,
      account_created: true,
      credit_ngonka: '3000000000',
      credit_replayed: false,
      balance_ngonka: '3000000000',
      child_key: { limit_daily_ngonka: '1000000000', rate_limit_rpm: 60 },
    });
    expect(demo.management_key.key).toMatch(/^gm-/);

    // The child key, as a customer would use it.
    const openai = new OpenAI({ apiKey: demo.child_key.key, baseURL: `${url}/v1`, maxRetries: 0 });
    const answer = await openai.chat.completions.create({
      model: demo.model,
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 16,
    });
    expect(answer.usage?.completion_tokens).toBeGreaterThan(0);
    // The management key manages it, with the limits printed.
    const child = await call(
      url,
      'GET',
      `/api/management/keys/${demo.management_key.id}/children/${demo.child_key.id}`,
      {
        token: demo.management_key.key,
      },
    );
    expect(child.body).toMatchObject({
      name: 'Demo customer',
      limit_daily_ngonka: '1000000000',
      rate_limit_rpm: 60,
    });
    await settled(stack.env.ctx, demo.account_id);
    const spent = (await call(url, 'GET', '/api/account', { token: demo.token })).body;

    // Again, signed in: new keys, the same account, no second credit.
    const again = await seedDemo(['--url', url, '--email', email, '--password', password, '--json']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout);
    expect(second).toMatchObject({
      account_id: demo.account_id,
      account_created: false,
      credit_replayed: true,
    });
    expect(second.child_key.key).not.toBe(demo.child_key.key);

    // As text: the lines to paste name every id the README's later steps use ($MK_ID in step 7).
    const text = await seedDemo(['--url', url, '--email', email, '--password', password]);
    expect(text.code).toBe(0);
    const exported = Object.fromEntries(
      (text.stdout.split('\n').find((l) => l.startsWith('export ')) ?? '')
        .slice('export '.length)
        .split(' ')
        .map((pair) => pair.split('=', 2) as [string, string]),
    );
    expect(Object.keys(exported)).toEqual(['GW', 'JWT', 'MK_ID', 'GM', 'GC']);
    const children = await call(url, 'GET', `/api/management/keys/${exported.MK_ID}/children`, {
      token: exported.JWT,
    });
    expect(children.status).toBe(200);
    expect(second.balance_ngonka).toBe(spent.balance_ngonka);
    expect(BigInt(spent.balance_ngonka)).toBeLessThan(3_000_000_000n);
  });

  it('says what to do when the email is taken, the gateway is not there, or the database is not its own', async () => {
    const url = stack.server.url;
    const noPassword = await seedDemo(['--url', url, '--email', email]);
    expect(noPassword.code).toBe(1);
    expect(noPassword.stderr).toContain(`${email} is registered already: pass its --password`);
    const wrong = await seedDemo(['--url', url, '--email', email, '--password', 'not the one']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('registered with another password');

    const production = await seedDemo(['--url', url, '--email', `p-${email}`], { NODE_ENV: 'production' });
    expect(production.code).toBe(1);
    expect(production.stderr).toContain('refused with NODE_ENV=production');
    const nobody = await seedDemo(['--url', 'http://127.0.0.1:9', '--email', email]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('no gateway answers at http://127.0.0.1:9');

    // The gateway's HTTP API, but another database for the credit: nothing is credited.
    const other = new URL(stack.env.config.DATABASE_URL);
    other.pathname = '/postgres';
    const elsewhere = await seedDemo(['--url', url, '--email', `x-${email}`], { DATABASE_URL: other.href });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain(
      "this database has no gateway tables; give the command the gateway's own DATABASE_URL",
    );

    const bad = await seedDemo(['--gnk', '1.5']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--gnk: a whole number of GNK');
  });
});
