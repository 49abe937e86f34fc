import { Redis } from 'ioredis';

export type { Redis };

/**
 * One ioredis connection for commands. BullMQ workers need their own blocking connections
 * (`maxRetriesPerRequest: null`), made by the queue module.
 */
export function createRedis(
  url: string,
  opts: { blocking?: boolean; commandTimeoutMs?: number } = {},
): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: opts.blocking ? null : 3,
    enableAutoPipelining: !opts.blocking,
    lazyConnect: false,
    ...(opts.blocking || !opts.commandTimeoutMs ? {} : { commandTimeout: opts.commandTimeoutMs }),
  });
  redis.once('ready', () => connectedOnce.add(redis));
  return redis;
}

const connectedOnce = new WeakSet<Redis>();

/**
 * The connection was up and is not now (Redis went down, or is restarting): a command would wait
 * for ioredis's reconnection retries, seconds, and then fail. Before the first connection it is
 * not: commands then wait in the offline queue for a connection moments away.
 */
export function redisOutOfReach(redis: Redis): boolean {
  return redis.status !== 'ready' && connectedOnce.has(redis);
}

/**
 * Connection options for BullMQ, which then owns (and closes) the connections it makes: what
 * ioredis reads from the same URL, TLS included for `rediss://` (plain TCP to a TLS port is reset,
 * and the queues would stall while the command connection works).
 */
export function redisOptionsFromUrl(url: string): {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: { servername: string };
  maxRetriesPerRequest: null;
  retryStrategy: (times: number) => number;
} {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: Number(u.pathname.replace('/', '') || 0),
    ...(u.protocol === 'rediss:' ? { tls: { servername: u.hostname } } : {}),
    maxRetriesPerRequest: null,
    // ioredis's own backoff, at most 2 s between tries. BullMQ's default grows to 20 s, so after an
    // outage of half a minute the queues came back up to 20 s after the commands did, jobs and sync
    // settlements waiting while /readyz said ok.
    retryStrategy: reconnectDelayMs,
  };
}

/** Milliseconds before reconnect attempt `times` (ioredis's default schedule). */
const reconnectDelayMs = (times: number): number => Math.min(times * 50, 2000);

/**
 * A connection of its own for WATCH ... EXEC, that never reconnects and never queues: once it
 * drops, every command on it fails at once and it is dead. A WATCH belongs to the connection it was
 * sent on; ioredis would otherwise send what a step issues after a drop (its reads, its MULTI, a
 * MULTI whose reply was lost) on the next connection, where nothing is watched and the repair
 * would apply however the keys changed. The caller opens a new one to look again.
 */
export async function openWatchConnection(redis: Redis, onError: (err: Error) => void): Promise<Redis> {
  const conn = redis.duplicate({
    lazyConnect: true,
    enableAutoPipelining: false,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  conn.on('error', onError);
  await conn.connect();
  return conn;
}
