import { Redis } from 'ioredis';

export type { Redis };

/**
 * One ioredis connection for commands. BullMQ workers need their own blocking connections
 * (`maxRetriesPerRequest: null`), made by the queue module.
 */
export function createRedis(url: string, opts: { blocking?: boolean } = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: opts.blocking ? null : 3,
    enableAutoPipelining: !opts.blocking,
    lazyConnect: false,
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

const epochs = new WeakMap<Redis, { n: number; closed: Set<() => void> }>();

function epochOf(conn: Redis): { n: number; closed: Set<() => void> } {
  let e = epochs.get(conn);
  if (!e) {
    const state = { n: 0, closed: new Set<() => void>() };
    conn.on('close', () => {
      state.n++;
      for (const f of state.closed) f();
    });
    epochs.set(conn, state);
    e = state;
  }
  return e;
}

/**
 * How many times this connection has closed (it reconnects by itself): a WATCH belongs to the
 * connection it was sent on, so a step that watched at one count must not EXEC at another.
 */
export function connectionEpoch(conn: Redis): number {
  return epochOf(conn).n;
}

/**
 * `p`, or a rejection once `conn` closes first. For a connection made with
 * `autoResendUnfulfilledCommands: false`, whose commands in flight when it drops are neither
 * answered nor sent again: without this, their promises would never settle.
 */
export function unlessClosed<T>(conn: Redis, p: Promise<T>): Promise<T> {
  const e = epochOf(conn);
  let onClose!: () => void;
  const closed = new Promise<never>((_, reject) => {
    onClose = () => reject(new Error('the Redis connection closed before it answered'));
  });
  e.closed.add(onClose);
  return Promise.race([p, closed]).finally(() => e.closed.delete(onClose));
}
