import { Redis } from 'ioredis';

export type { Redis };

/**
 * One ioredis connection for commands. BullMQ workers need their own blocking connections
 * (`maxRetriesPerRequest: null`), made by the queue module.
 */
export function createRedis(url: string, opts: { blocking?: boolean } = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: opts.blocking ? null : 3,
    enableAutoPipelining: !opts.blocking,
    lazyConnect: false,
  });
}

/** Connection options for BullMQ, which then owns (and closes) the connections it makes. */
export function redisOptionsFromUrl(url: string): {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  maxRetriesPerRequest: null;
} {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: Number(u.pathname.replace('/', '') || 0),
    maxRetriesPerRequest: null,
  };
}
