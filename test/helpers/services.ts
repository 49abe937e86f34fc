import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';

export interface Services {
  /** A URL to a database we may create other databases from. */
  adminDatabaseUrl: string;
  redisUrl: string;
  urlFor(db: string): string;
  stop(): Promise<void>;
}

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** The gateway's own defaults (API.md "Configuration"), used when they answer. */
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

function answers(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port: Number(u.port), timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * DATABASE_URL / REDIS_URL when set; else the default local ports when something listens there;
 * else Testcontainers when a Docker engine answers; else an error that names what is missing.
 */
export async function resolveServices(): Promise<Services> {
  const dbUrl = process.env.DATABASE_URL ?? ((await answers(LOCAL_POSTGRES)) ? LOCAL_POSTGRES : undefined);
  const redisUrl = process.env.REDIS_URL ?? ((await answers(LOCAL_REDIS)) ? LOCAL_REDIS : undefined);
  if (dbUrl && redisUrl) {
    const admin = withDb(dbUrl, 'postgres');
    return { adminDatabaseUrl: admin, redisUrl, urlFor: (db) => withDb(admin, db), stop: async () => {} };
  }
  if (!dockerAnswers()) {
    const missing = [!dbUrl && 'DATABASE_URL', !redisUrl && 'REDIS_URL'].filter(Boolean).join(' and ');
    throw new Error(
      `Integration tests need Postgres and Redis: set ${missing} (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379) or start a Docker engine for Testcontainers.`,
    );
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { RedisContainer } = await import('@testcontainers/redis');
  const [pg, redis] = await Promise.all([
    dbUrl ? null : new PostgreSqlContainer('postgres:16-alpine').start(),
    redisUrl ? null : new RedisContainer('redis:7-alpine').start(),
  ]);
  const admin = dbUrl ? withDb(dbUrl, 'postgres') : withDb(pg!.getConnectionUri(), 'postgres');
  return {
    adminDatabaseUrl: admin,
    redisUrl: redisUrl ?? redis!.getConnectionUrl(),
    urlFor: (db) => withDb(admin, db),
    stop: async () => {
      await Promise.all([pg?.stop(), redis?.stop()]);
    },
  };
}
