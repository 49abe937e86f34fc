import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createSql } from '../../shared/db/client.js';
import { pendingMigrations, readMigrations } from '../../shared/db/migrate.js';
import { type CliRun, runCli } from '../helpers/cli.js';

const admin = createSql(inject('databaseUrl'), { max: 1 });
const made: string[] = [];

afterAll(async () => {
  for (const db of made) await admin.unsafe(`drop database if exists ${db} with (force)`);
  await admin.end();
});

/** A database name of this test's own, not created yet. */
function freshDatabase(): { name: string; url: string } {
  const name = `gonka_migrate_${randomBytes(5).toString('hex')}`;
  made.push(name);
  const u = new URL(inject('databaseUrl'));
  u.pathname = `/${name}`;
  return { name, url: u.toString() };
}

/** `npm run migrate -- …` without npm. */
async function migrateCli(
  databaseUrl: string,
  args: string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<CliRun> {
  return runCli('migrate.ts', args, { DATABASE_URL: databaseUrl, ...extraEnv });
}

const exists = async (name: string) =>
  (await admin`select 1 from pg_database where datname = ${name}`).length === 1;

describe('migrate CLI: happy', () => {
  it('creates the database, applies every migration once however many start together, then has nothing to do', async () => {
    const db = freshDatabase();
    const runs = await Promise.all([1, 2, 3].map(() => migrateCli(db.url)));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    const sql = createSql(db.url, { max: 1 });
    try {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from schema_migrations`;
      expect(row!.n).toBe((await readMigrations()).length);
      // What a process started with MIGRATE_ON_START=false checks: nothing left to apply.
      expect(await pendingMigrations(sql)).toEqual([]);
    } finally {
      await sql.end();
    }
    const again = await migrateCli(db.url);
    expect(again).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
    // In production too without JWT_SECRET: migrating signs no session (ops17).
    const production = await migrateCli(db.url, [], { NODE_ENV: 'production', JWT_SECRET: '' });
    expect(production).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
  });
});

describe('migrate CLI: error', () => {
  it('prints its usage for --help and refuses an unknown flag, touching no database', async () => {
    const db = freshDatabase();
    const help = await migrateCli(db.url, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run migrate/);
    const bogus = await migrateCli(db.url, ['--bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/--bogus/);
    expect(bogus.stderr).toMatch(/usage: npm run migrate/);
    expect(await exists(db.name)).toBe(false);
  });

  it('names a bad variable or an unreachable database in one line, without a stack trace or the password', async () => {
    const db = freshDatabase();
    const badConfig = await migrateCli(db.url, [], { DATABASE_POOL_SIZE: 'lots' });
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/DATABASE_POOL_SIZE/);
    expect(badConfig.stderr).not.toMatch(/\n\s+at /);

    const unreachable = await migrateCli('postgres://postgres:hunter2-secret@127.0.0.1:1/gonka');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^migrate: Postgres at 127\.0\.0\.1:1: .*DATABASE_URL/);
    expect(unreachable.stderr).not.toMatch(/\n\s+at /);
    expect(unreachable.stderr).not.toContain('hunter2');
  });
});
