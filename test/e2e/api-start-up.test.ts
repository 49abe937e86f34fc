import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql } from '../../shared/db/client.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

// The gateway process's start (scripts/start.ts run as `npm start` runs it), against a test stack's
// database, Redis and simulator: what it says when it cannot start.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ workers: false });
});
afterAll(async () => {
  await stack?.close();
});

describe('api process start-up', () => {
  const start = (args: string[], extra: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/start.ts', ...args], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: stack.env.config.DATABASE_URL,
        REDIS_URL: stack.env.config.REDIS_URL,
        REDIS_PREFIX: stack.env.config.REDIS_PREFIX,
        GONKA_NODES: stack.sim.urls.join(','),
        LOG_LEVEL: 'warn',
        ...extra,
      },
      timeout: 30_000,
    }).then(
      () => null,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );

  it.each([
    ['api,workers,scheduler', 'PORT', 'api: cannot listen on HOST:PORT'],
    // Two roles given one METRICS_PORT on one host (ops31: an uncaught stack, after they started).
    ['workers,scheduler', 'METRICS_PORT', 'cannot listen on HOST:METRICS_PORT'],
  ])(
    'stops %s with one fatal line naming HOST:%s, not a stack, before any role starts, when the port is taken',
    async (roles, variable, msg) => {
      const taken = createServer();
      await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
      const port = (taken.address() as AddressInfo).port;
      try {
        const failed = await start(['--roles', roles], {
          [variable]: String(port),
          HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
        });
        expect(failed?.code).toBe(1);
        expect(failed?.stderr).not.toMatch(/\n\s+at /);
        const lines = (failed?.stdout ?? '')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { level: number; msg: string; err?: string; port?: number });
        const fatal = lines.find((l) => l.level === 60);
        // Every line names the process's roles: several roles' logs are read together.
        expect(fatal).toMatchObject({ msg, port, roles });
        expect(fatal?.err).toMatch(/EADDRINUSE/);
        // Said first: no role took work only to stop again (newcomer32).
        expect(lines.map((l) => l.msg)).not.toContain('workers started');
      } finally {
        taken.close();
      }
    },
    40_000,
  );

  it('prints its usage for --help, and for an unknown option the option and the usage, not a stack', async () => {
    const run = promisify(execFile);
    const help = await run(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--help']);
    expect(help.stdout).toMatch(/^Usage: node dist\/start.mjs \[--roles api,workers,scheduler\]/);
    const failed = await start(['--bogus'], {});
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/^Unknown option '--bogus'\nUsage: /);
    expect(failed?.stderr).not.toMatch(/\n\s+at /);
  }, 40_000);

  it('refuses to start in production without GONKA_NODES, rather than serve the simulator’s answers', async () => {
    const failed = await start(['--roles', 'api'], {
      NODE_ENV: 'production',
      GONKA_NODES: '',
      JWT_SECRET: '3f9c1e7a5b2d8e4f6a0c9b1d7e3f5a2c',
      METRICS_TOKEN: 'k7Qx2Lm9Vt4Rb8Nw',
    });
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toMatch(/GONKA_NODES: required in production/);
  }, 40_000);

  it('with MIGRATE_ON_START=false, neither creates nor migrates, and refuses a database that lacks migrations', async () => {
    const name = `gonka_nomigrate_${Date.now()}`;
    await stack.env.ctx.sql.unsafe(`create database ${name}`);
    const url = new URL(stack.env.config.DATABASE_URL);
    url.pathname = `/${name}`;
    try {
      const failed = await start(['--roles', 'api'], {
        MIGRATE_ON_START: 'false',
        DATABASE_URL: url.toString(),
      });
      expect(failed?.code).toBe(1);
      const fatal = JSON.parse(failed!.stdout.split('\n').find((l) => l.includes('"level":60'))!);
      expect(fatal.msg).toMatch(
        /MIGRATE_ON_START=false and the database lacks migrations: run npm run migrate/,
      );
      expect(fatal.pending[0]).toMatch(/^001_/);
      // Untouched: no schema_migrations made.
      const empty = createSql(url.toString(), { max: 1 });
      const [t] = await empty<{ t: string | null }[]>`select to_regclass('schema_migrations')::text as t`;
      await empty.end();
      expect(t!.t).toBeNull();
    } finally {
      await stack.env.ctx.sql.unsafe(`drop database if exists ${name} with (force)`);
    }
  }, 40_000);

  it('refuses an unknown role with a message naming --roles', async () => {
    const failed = await start(['--roles', 'api,bogus'], {});
    expect(failed?.code).toBe(1);
    expect(failed?.stderr.trim()).toBe(
      '--roles: unknown role "bogus"; expected some of api, workers, scheduler',
    );
  }, 40_000);
});
