import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { perOwner } from '../per-owner.js';
import { redisOutOfReach } from './client.js';

/** While Redis stays out of reach, a reminder at most this often. */
export const OUTAGE_REMINDER_MS = 30_000;

/** A connection whose losses are followed: an ioredis client, or a BullMQ queue or worker. */
type Source = object;

/**
 * One role's Redis outages (the command connection, the queue producers, the workers) as an
 * operator wants to read them: a warning when the first of its connections loses Redis, a reminder
 * at most every 30 s while one is still out, and an info line when the last is back. ioredis and
 * BullMQ emit an error at every reconnection attempt (several a second, for each connection), and
 * each was logged.
 */
export class RedisOutageLog {
  private readonly down = new Set<Source>();
  private since = 0;
  private remindedAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly role: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A connection of the role failed to reach Redis (one attempt). */
  failed(source: Source, err: Error): void {
    const t = this.now();
    const starting = this.down.size === 0;
    this.down.add(source);
    if (starting) {
      this.since = t;
      this.remindedAt = t;
      this.logger.warn({ connection: this.role, err: err.message }, 'redis out of reach');
    } else if (t - this.remindedAt >= OUTAGE_REMINDER_MS) {
      this.remindedAt = t;
      const downSeconds = Math.round((t - this.since) / 1000);
      this.logger.warn({ connection: this.role, err: err.message, downSeconds }, 'redis still out of reach');
    }
  }

  /** A connection of the role is ready (again). */
  ready(source: Source): void {
    if (!this.down.delete(source) || this.down.size > 0) return;
    const downSeconds = Math.round((this.now() - this.since) / 1000);
    this.logger.info({ connection: this.role, downSeconds }, 'redis reachable again');
  }
}

const logs = perOwner<Logger, string, RedisOutageLog>();

/** The process's outage log for a role (one per logger and role, however many connections follow it). */
export function redisOutageLog(logger: Logger, role: string): RedisOutageLog {
  return logs.get(logger, role, () => new RedisOutageLog(logger, role));
}

/** An ioredis client: every 'error' it emits is a failed (re)connection, 'ready' its end. */
interface RedisEvents {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

/** Follow an ioredis client's connection in the role's outage log. */
export function followRedis(redis: RedisEvents, outage: RedisOutageLog): void {
  redis.on('error', (err) => outage.failed(redis, err));
  redis.on('ready', () => outage.ready(redis));
}

/** A BullMQ queue or worker: its errors, and its client (resolved once it first connected). */
interface BullEvents {
  readonly client: Promise<{ on(event: 'ready', listener: () => void): unknown }>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Follow a BullMQ queue's or worker's connections: their connection errors go to the role's outage
 * log, any other error to `other`. It is back when its client is ready again (a worker's blocking
 * connection reconnects with it, on the same schedule).
 */
export function followBull(bull: BullEvents, outage: RedisOutageLog, other: (err: Error) => void): void {
  bull.on('error', (err) => (isConnectionError(err) ? outage.failed(bull, err) : other(err)));
  // The client is handed out once connected: an outage since start-up ends there.
  void bull.client.then(
    (c) => {
      outage.ready(bull);
      c.on('ready', () => outage.ready(bull));
    },
    () => {},
  );
}

/** Node's socket errors that mean "Redis is not there (now)", and ioredis's closed connection. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function isConnectionError(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && CONNECTION_CODES.has(code)) || err.message === 'Connection is closed.';
}

/** BullMQ's error for a job whose key is gone: `Missing key for job 42. moveToFinished`. */
const VANISHED_JOB = /^Missing key for job (\S+)\. /;

/**
 * A worker's errors that are not Redis being out of reach (followBull's `other`), as `msg` at error
 * level, except one expected after Redis lost its data (a restart without persistence, or a job
 * removed by hand): the message of a job the worker was running is gone when it finishes. Postgres
 * holds the job and the reconciliation check queues a live one again, so that is a warning naming
 * the job, once (BullMQ reports it again when it then tries to fail the job), not error lines.
 */
export function workerErrorLog(logger: Logger, msg: string): (err: Error) => void {
  const warned = new Set<string>();
  return (err) => {
    const vanished = VANISHED_JOB.exec(err.message);
    if (vanished) {
      if (warned.has(vanished[1]!)) return;
      if (warned.size >= 1000) warned.clear(); // a bound; a repeat after it is one more line
      warned.add(vanished[1]!);
      logger.warn(
        { jobId: vanished[1] },
        'job message vanished (Redis lost it?); the reconciliation check queues a live job again',
      );
    } else logger.error({ err }, msg);
  };
}

/**
 * Follow a worker as every queue processor does: its connection errors to the workers' outage log,
 * the rest through workerErrorLog as `<name> worker error`.
 */
export function followWorker(
  worker: BullEvents & { on(event: 'stalled', listener: (jobId: string, prev: string) => void): unknown },
  logger: Logger,
  name: string,
): void {
  followBull(worker, redisOutageLog(logger, 'workers'), workerErrorLog(logger, `${name} worker error`));
  // A job whose worker stopped renewing its lock (a process killed, or its event loop stuck past
  // the lock): BullMQ runs it again, which a crash otherwise leaves without a line.
  worker.on('stalled', (jobId, prev) =>
    logger.warn({ jobId, queue: name, was: prev }, `${name} job stalled (its worker died?); it runs again`),
  );
}

/**
 * An error for a log line: whole (its stack) as usual, but only its words while `redis` is out of
 * reach, when it is the outage the outage log already tells once, not a fault to debug (ops31: each
 * scrape, lock renewal and settlement batch in an outage logged an ioredis stack).
 */
export function errOrOutage(redis: Redis, err: unknown): { err: unknown } | { error: string } {
  return redisOutOfReach(redis) ? { error: err instanceof Error ? err.message : String(err) } : { err };
}
