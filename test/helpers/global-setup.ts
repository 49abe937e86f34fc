import type { TestProject } from 'vitest/node';
import { createSql } from '../../shared/db/client.js';
import { migrate } from '../../shared/db/migrate.js';
import { resolveServices } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    templateDb: string;
  }
}

/**
 * Once per run: find Postgres and Redis (env, else Testcontainers, else a clear error), and build
 * the migrated template database every test file clones.
 */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await resolveServices();
  // One template per run, so test runs started side by side never drop each other's template.
  const TEMPLATE_DB = `gonka_test_template_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = createSql(services.adminDatabaseUrl, { max: 1 });
  try {
    await admin.unsafe(`drop database if exists ${TEMPLATE_DB} with (force)`);
    await admin.unsafe(`create database ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const tpl = createSql(services.urlFor(TEMPLATE_DB), { max: 1 });
  try {
    await migrate(tpl);
  } finally {
    await tpl.end();
  }
  project.provide('databaseUrl', services.adminDatabaseUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('templateDb', TEMPLATE_DB);
  return async () => {
    const a = createSql(services.adminDatabaseUrl, { max: 1 });
    try {
      await a.unsafe(`drop database if exists ${TEMPLATE_DB} with (force)`);
    } finally {
      await a.end();
    }
    await services.stop();
  };
}
