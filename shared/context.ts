import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { createSql, type Sql } from './db/client.js';
import { type HostLookup, systemLookup } from './host-lookup.js';
import { createLogger, type Logger } from './logger.js';
import { createRedis, type Redis } from './redis/client.js';
import { AdmissionKeys } from './redis/keys.js';
import { followRedis, redisOutageLog } from './redis/outage-log.js';
import { loadScripts, type ScriptRunner } from './redis/scripts.js';

/**
 * What every role (api, workers, scheduler, scripts) shares: config, the Postgres pool, one Redis
 * connection with the Lua scripts loaded, the logger, the clock and the host resolver. Built once
 * per process.
 */
export interface Context {
  config: Config;
  sql: Sql;
  redis: Redis;
  scripts: ScriptRunner;
  keys: AdmissionKeys;
  logger: Logger;
  clock: Clock;
  lookupHost: HostLookup;
}

export function createContext(
  config: Config,
  opts: { clock?: Clock; logger?: Logger; lookupHost?: HostLookup } = {},
): Context {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const redis = createRedis(config.REDIS_URL, { commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  // Without a listener ioredis prints each connection error raw to stderr, outside the JSON log;
  // the requests it fails say so themselves (503), this only records that Redis is out of reach.
  followRedis(redis, redisOutageLog(logger, 'commands'));
  return {
    config,
    sql: createSql(config.DATABASE_URL, {
      max: config.DATABASE_POOL_SIZE,
      queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
    }),
    redis,
    scripts: loadScripts(redis),
    keys: new AdmissionKeys(config.REDIS_PREFIX),
    logger,
    clock: opts.clock ?? systemClock,
    lookupHost: opts.lookupHost ?? systemLookup,
  };
}

/** Close Redis, then Postgres; each step on its own so one failure does not leak the other. */
export async function closeContext(ctx: Context): Promise<void> {
  try {
    // QUIT waits in the offline queue of a client cut off from Redis: disconnect that one.
    if (ctx.redis.status === 'ready') await ctx.redis.quit();
    else ctx.redis.disconnect();
  } catch (err) {
    ctx.logger.warn({ err }, 'closing redis failed');
  }
  try {
    await ctx.sql.end({ timeout: 5 });
  } catch (err) {
    ctx.logger.warn({ err }, 'closing postgres failed');
  }
}
