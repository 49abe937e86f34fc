import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { newId } from '../../shared/ids.js';
import { INSTANCE_ID, startInstanceHeartbeat } from '../../shared/redis/instance.js';
import { type CliRun, runCli } from '../helpers/cli.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

/** `npm run topup -- …` without npm: the script under tsx, pointed at this file's database and Redis. */
async function topupCli(...args: string[]): Promise<CliRun> {
  return topupCliWith({}, ...args);
}

async function topupCliWith(vars: { REDIS_URL?: string }, ...args: string[]): Promise<CliRun> {
  return runCli('topup.ts', args, {
    DATABASE_URL: env.config.DATABASE_URL,
    REDIS_URL: vars.REDIS_URL ?? env.config.REDIS_URL,
    REDIS_PREFIX: env.config.REDIS_PREFIX,
    USDT_RATE_NGONKA: '3000000000',
    LOG_LEVEL: 'warn',
  });
}

async function insertAccount(): Promise<{ id: string; email: string }> {
  const id = newId('acct');
  const email = `${randomBytes(6).toString('hex')}@example.com`;
  await env.ctx.sql.begin(async (tx) => {
    await tx`insert into accounts (id, email, password_hash, referral_code)
      values (${id}, ${email}, 'x', ${randomBytes(4).toString('hex')})`;
    await tx`insert into ledger_accounts (id, kind) values (${id}, 'customer')`;
  });
  return { id, email };
}

const balance = async (id: string) => (await getAccountBalance(env.ctx.sql, id))?.balance;

describe('topup CLI: happy', () => {
  it('credits nGNK by email, prints the entry, and replays a reference without a second credit', async () => {
    const a = await insertAccount();
    const res = await topupCli(
      '--email',
      a.email.toUpperCase(),
      '--ngonka',
      '5000000000',
      '--reference',
      'cli-1',
    );
    // It says where it writes, and that no gateway runs under that prefix to see it (none here).
    const [target, note, ...rest] = res.stderr.trim().split('\n');
    expect(target).toBe(
      `topup: Postgres database "${new URL(env.config.DATABASE_URL).pathname.slice(1)}", Redis prefix "${env.config.REDIS_PREFIX}"`,
    );
    expect(note).toMatch(`no gateway process runs with REDIS_PREFIX=${env.config.REDIS_PREFIX} now`);
    expect(rest).toEqual([]);
    expect(res.code).toBe(0);
    const entry = JSON.parse(res.stdout);
    expect(entry).toMatchObject({
      kind: 'topup',
      amount_ngonka: '5000000000',
      ref: 'cli-1',
      account_id: a.id,
      replayed: false,
    });
    expect(await balance(a.id)).toBe(5_000_000_000n);

    const again = await topupCli('--account-id', a.id, '--ngonka', '5000000000', '--reference', 'cli-1');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: entry.id, replayed: true });
    expect(await balance(a.id)).toBe(5_000_000_000n);
  });

  it('says nothing of the prefix when a gateway process runs under it', async () => {
    const a = await insertAccount();
    const stop = startInstanceHeartbeat(env.ctx);
    try {
      const res = await topupCli('--account-id', a.id, '--ngonka', '7');
      expect(res.code).toBe(0);
      expect(res.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^topup: Postgres database /)]);
    } finally {
      stop();
      await env.ctx.redis.del(env.ctx.keys.instance(INSTANCE_ID));
    }
  });

  it('converts USDT at the configured rate and makes up a reference when none is given', async () => {
    const a = await insertAccount();
    const res = await topupCli('--account-id', a.id, '--usdt', '12.5');
    expect(res.code).toBe(0);
    const entry = JSON.parse(res.stdout);
    expect(entry.amount_ngonka).toBe('37500000000');
    expect(entry.ref).toMatch(/^cli-[0-9a-f]+$/);
    expect(await balance(a.id)).toBe(37_500_000_000n);
  });
});

describe('topup CLI: error', () => {
  it('exits non-zero naming the problem, and credits nothing', async () => {
    const a = await insertAccount();
    const cases: [string[], RegExp][] = [
      [['--email', 'nobody@example.com', '--ngonka', '1'], /Account not found/],
      [['--account-id', a.id], /--ngonka/],
      [['--account-id', a.id, '--ngonka', '1', '--usdt', '1'], /--usdt/],
      [['--account-id', a.id, '--ngonka', '1.5'], /--ngonka/],
      [['--account-id', a.id, '--ngonka', '1', '--bogus'], /bogus/],
    ];
    const results = await Promise.all(cases.map(([args]) => topupCli(...args)));
    for (const [i, [args, message]] of cases.entries()) {
      const res = results[i]!;
      expect(res.code, args.join(' ')).not.toBe(0);
      expect(res.stderr).toMatch(message);
      expect(res.stdout).toBe('');
    }
    await topupCli('--account-id', a.id, '--ngonka', '10', '--reference', 'dup');
    const conflict = await topupCli('--account-id', a.id, '--ngonka', '11', '--reference', 'dup');
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/--reference: .*different top-up/);
    expect(await balance(a.id)).toBe(10n);
  });
});

describe('topup CLI: Redis out of reach', () => {
  it('says the credit is in the ledger and prints the reference that finishes it, so a rerun credits once', async () => {
    const a = await insertAccount();
    const down = await topupCliWith(
      { REDIS_URL: 'redis://127.0.0.1:1' },
      '--email',
      a.email,
      '--ngonka',
      '700',
    );
    expect(down.code).toBe(1);
    const reference = /--reference (cli-[0-9a-f]+)/.exec(down.stderr)?.[1];
    expect(down.stderr).toMatch(/credited in the ledger/);
    expect(reference).toBeDefined();
    expect(await balance(a.id)).toBe(700n);
    // The command it names: the same credit, not a second one.
    const again = await topupCli('--email', a.email, '--ngonka', '700', '--reference', reference!);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ replayed: true });
    expect(await balance(a.id)).toBe(700n);
  });
});
