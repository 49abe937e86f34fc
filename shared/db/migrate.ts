import { readdir, readFile } from 'node:fs/promises';
import { assetPath } from '../assets.js';
import type { Sql } from './client.js';

const MIGRATIONS_DIR = assetPath('shared/db/migrations/');
/** Any constant works; it only has to be the same in every process that migrates this database. */
const MIGRATION_LOCK_ID = 7_347_201_994;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (f) => ({
      version: Number.parseInt(f, 10),
      name: f,
      sql: await readFile(dir + f, 'utf8'),
    })),
  );
}

/**
 * Apply pending numbered migrations in one transaction (all or none), under an advisory lock so that
 * replicas starting together migrate once. Returns the names applied.
 */
export async function migrate(sql: Sql): Promise<string[]> {
  const migrations = await readMigrations();
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`;
    await tx`
      create table if not exists schema_migrations (
        version int primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`;
    const done = new Set(
      (await tx<{ version: number }[]>`select version from schema_migrations`).map((r) => r.version),
    );
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`insert into schema_migrations (version, name) values (${m.version}, ${m.name})`;
      applied.push(m.name);
    }
    return applied;
  });
}

/**
 * The migrations this build has that the database has not applied (all of them before the first):
 * what a process that does not migrate (MIGRATE_ON_START=false) checks before it serves.
 */
export async function pendingMigrations(sql: Sql): Promise<string[]> {
  const migrations = await readMigrations();
  const [table] = await sql<{ t: string | null }[]>`select to_regclass('schema_migrations')::text as t`;
  if (!table?.t) return migrations.map((m) => m.name);
  const done = new Set(
    (await sql<{ version: number }[]>`select version from schema_migrations`).map((r) => r.version),
  );
  return migrations.filter((m) => !done.has(m.version)).map((m) => m.name);
}
