import { z } from 'zod';
import { envBool, positiveInt } from './config-fields.js';

/** The settings of the stores: Postgres (the record) and Redis (admission state and the queues). */
export const storeSettings = {
  // The scheme is checked here: a mistyped one would otherwise fail later, far from the variable.
  DATABASE_URL: z
    .url()
    .regex(/^postgres(ql)?:\/\//i, 'must be a postgres:// (or postgresql://) URL')
    .default('postgres://postgres@127.0.0.1:5432/gonka_gateway'),
  /** Connections per process; settlement batches keep the need small. */
  DATABASE_POOL_SIZE: positiveInt.default(10),
  /**
   * A query (its wait for a connection included) not answered in this long is cancelled and
   * fails (a request gets a 503 with Retry-After; settlement runs again): without it, a Postgres
   * that goes silent without closing the connection (a partition, a frozen failover) holds every
   * request as long as TCP takes to notice, minutes. Migrations have none.
   */
  DATABASE_QUERY_TIMEOUT_MS: positiveInt.default(20_000),
  /**
   * Create the database if missing and apply migrations at start. false: neither (a database user
   * without DDL rights); the process then refuses to start while the database lacks a migration
   * this build has (`npm run migrate` with a privileged user first).
   */
  MIGRATE_ON_START: envBool.default(true),
  REDIS_URL: z
    .url()
    .regex(/^rediss?:\/\//i, 'must be a redis:// (or rediss://) URL')
    .default('redis://127.0.0.1:6379'),
  /**
   * A command Redis has not answered in this long fails (a request gets a 503 with Retry-After):
   * without it, a Redis that stops answering without closing the connection (a partition) would
   * hold every request until the client gave up. BullMQ's blocking connections have none.
   */
  REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(5000),
  /** Namespace for admission keys and BullMQ queues, so several gateways (or tests) can share one Redis. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]+$/)
    .default('gw'),
};
