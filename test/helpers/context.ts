import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { Clock } from '../../shared/clock.js';
import { type Config, loadConfig } from '../../shared/config.js';
import { type Context, closeContext, createContext } from '../../shared/context.js';
import { createSql } from '../../shared/db/client.js';
import { createLogger, type Logger } from '../../shared/logger.js';

export interface TestEnv {
  ctx: Context;
  config: Config;
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * A fresh database cloned from the migrated template and a Redis prefix of its own, so test files
 * run side by side without seeing each other.
 */
export async function createTestEnv(
  opts: { env?: Record<string, string>; clock?: Clock; logger?: Logger } = {},
): Promise<TestEnv> {
  const adminUrl = inject('databaseUrl');
  const name = `gonka_test_${randomBytes(6).toString('hex')}`;
  const admin = createSql(adminUrl, { max: 1 });
  try {
    await withRetry(() => admin.unsafe(`create database ${name} template ${inject('templateDb')}`));
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const databaseUrl = u.toString();
  const config = loadConfig(
    {
      NODE_ENV: 'test',
      DATABASE_URL: databaseUrl,
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: `t${randomBytes(5).toString('hex')}`,
      JWT_SECRET: randomBytes(32).toString('hex'),
      ADMIN_TOKEN: 'test-admin-token-0123456789',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATABASE_POOL_SIZE: '20',
      // Every test registers its owners from 127.0.0.1: the per-IP throttle has a test of its own.
      REGISTER_MAX_PER_IP: '100000',
      ...opts.env,
    },
    () => {},
  );
  const ctx = createContext(config, {
    clock: opts.clock,
    logger: opts.logger ?? createLogger(config.LOG_LEVEL, 'test'),
  });
  return {
    ctx,
    config,
    databaseUrl,
    close: async () => {
      await deleteRedisPrefix(ctx, config.REDIS_PREFIX);
      await closeContext(ctx);
      const a = createSql(adminUrl, { max: 1 });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

async function deleteRedisPrefix(ctx: Context, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await ctx.redis.unlink(...keys);
  } while (cursor !== '0');
}

/** CREATE DATABASE … TEMPLATE fails while another clone of the template is in progress. */
async function withRetry<T>(fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || (err as { code?: string }).code !== '55006') throw err;
      await new Promise((r) => setTimeout(r, 50 * i));
    }
  }
}
