import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { closeApiServer, createApiServer } from '../api/server.js';
import { stopNodeCalls } from '../api/stopping.js';
import { assetPath } from '../shared/assets.js';
import { runBelowApi } from '../shared/background-priority.js';
import { startUploadSpoolSweeper, uploadSpoolDir } from '../shared/batches/upload-spool.js';
import { ConfigError, loadConfig } from '../shared/config.js';
import { closeContext, createContext } from '../shared/context.js';
import { createSql, ensureDatabase } from '../shared/db/client.js';
import { surviveLostPostgresConnections } from '../shared/db/connection-loss.js';
import { migrate, pendingMigrations } from '../shared/db/migrate.js';
import { sessionSigningSecret } from '../shared/db/queries/instance-secrets.js';
import { startSimulator } from '../shared/gonka/simulator/index.js';
import { flushSettlementHandoff, settleUnhanded } from '../shared/inference/settle-request.js';
import { drainInferenceHandoff } from '../shared/jobs/enqueue-inference.js';
import { createLogger } from '../shared/logger.js';
import { observeSettlement } from '../shared/metrics/registry.js';
import { createMetricsRegistry } from '../shared/metrics/scrape.js';
import { serveMetrics } from '../shared/metrics/server.js';
import { createQueues } from '../shared/queues.js';
import { readiness } from '../shared/readiness.js';
import { warnIfClockOff } from '../shared/redis/clock-offset.js';
import { startInstanceHeartbeat } from '../shared/redis/instance.js';
import { startScheduler } from '../shared/scheduler/index.js';
import { createUpstream } from '../shared/upstream.js';
import { startWorkers } from '../workers/index.js';
import { assetDigest } from './asset-digest.mjs';

/**
 * `npm start` runs every role in one process; `--roles api,workers,scheduler` picks some
 * (`npm run start:api` etc.). Migrations run before anything serves.
 */
const ROLES = ['api', 'workers', 'scheduler'] as const;
type Role = (typeof ROLES)[number];

const USAGE = `Usage: node dist/start.mjs [--roles ${ROLES.join(',')}]
Runs the gateway's roles (all by default) with the configuration in the environment (README, Configuration).`;
let values: { roles: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: { roles: { type: 'string', default: ROLES.join(',') }, help: { type: 'boolean', short: 'h' } },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
// The bundle knows the assets it was built beside (scripts/build.mjs); run from source, nothing to check.
const builtAssets = process.env.GATEWAY_BUILT_ASSETS;
if (builtAssets && builtAssets !== assetDigest(assetPath(''))) {
  console.error(
    'dist/start.mjs was built beside other Lua scripts, migrations or dashboard files than these (the tree changed since: a git pull?). Run `npm run build` (`npm start` builds first).',
  );
  process.exit(1);
}
const roles = new Set(values.roles.split(',').map((r) => r.trim()) as Role[]);
for (const r of roles)
  if (!ROLES.includes(r)) {
    console.error(`--roles: unknown role "${r}"; expected some of ${ROLES.join(', ')}`);
    process.exit(1);
  }

let config: ReturnType<typeof loadConfig>;
// Its notices wait for the configuration: the logger's level is one of its values.
const notices: string[] = [];
try {
  config = loadConfig(process.env, (m) => notices.push(m), { sessions: roles.has('api') });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
// Every line says which process wrote it (`roles`): separate roles' logs are often read together.
const bootLogger = createLogger(config.LOG_LEVEL).child({ roles: [...roles].join(',') });
surviveLostPostgresConnections(bootLogger);
// Only the api signs and reads sessions: a workers or scheduler process has no use for JWT_SECRET.
for (const m of notices) if (roles.has('api') || !m.startsWith('JWT_SECRET')) bootLogger.warn(m);

// A process with no api role (workers, scheduler) yields the CPU to the api's requests (BACKGROUND_NICE).
if (!roles.has('api') && config.BACKGROUND_NICE > 0) {
  try {
    const nice = runBelowApi(config.BACKGROUND_NICE);
    if (nice !== null) bootLogger.info({ nice }, 'running below the api’s CPU priority');
  } catch (err) {
    bootLogger.warn({ err }, 'could not lower the process priority (BACKGROUND_NICE)');
  }
}

// Read by V8 at every full collection, so setting it now governs the heap from here on.
if (config.V8_HEAP_GROWING_PERCENT > 0)
  setFlagsFromString(`--heap-growing-percent=${config.V8_HEAP_GROWING_PERCENT}`);

if (
  config.GONKA_NODES.length === 0 &&
  (roles.has('api') || roles.has('workers')) &&
  config.NODE_ENV === 'production'
) {
  // The simulator makes answers up, and they would be billed to real balances.
  bootLogger.fatal(
    'GONKA_NODES: required in production (without it the built-in node simulator would answer)',
  );
  process.exit(1);
}
// The port this process will listen on, held by another: said now, before migrations run and the
// other roles start taking work only to stop again (newcomer32). Checked again when it binds.
const API_PORT_TAKEN = 'api: cannot listen on HOST:PORT';
const METRICS_PORT_TAKEN = 'cannot listen on HOST:METRICS_PORT';
const listensOn = roles.has('api')
  ? { port: config.PORT, msg: API_PORT_TAKEN }
  : config.METRICS_PORT
    ? { port: config.METRICS_PORT, msg: METRICS_PORT_TAKEN }
    : null;
if (listensOn && listensOn.port !== 0) {
  const taken = await bindError(listensOn.port, config.HOST);
  if (taken) {
    cannotListenLine(taken, listensOn.port, listensOn.msg);
    process.exit(1);
  }
}
// Migrations (or the check that they ran) on a pool of their own, without DATABASE_QUERY_TIMEOUT_MS:
// a migration may rightly run long. Then what the context needs from the database.
const setupSql = createSql(config.DATABASE_URL, { max: 1 });
try {
  if (config.MIGRATE_ON_START) {
    await ensureDatabase(config.DATABASE_URL);
    const applied = await migrate(setupSql);
    if (applied.length) bootLogger.info({ applied }, 'migrations applied');
  } else {
    const pending = await pendingMigrations(setupSql);
    if (pending.length) {
      bootLogger.fatal(
        { pending },
        'MIGRATE_ON_START=false and the database lacks migrations: run npm run migrate first',
      );
      process.exit(1);
    }
  }
  if (roles.has('api') && config.JWT_SECRET_FROM_DATABASE)
    config = { ...config, JWT_SECRET: await sessionSigningSecret(setupSql) };
} catch (err) {
  // One line in the log, not an uncaught exception's stack on stderr. postgres.js's messages name
  // the host and port, the user and the database, never the password.
  bootLogger.fatal(
    { err: err instanceof Error ? err.message : String(err) },
    'Postgres: cannot create or migrate the database',
  );
  process.exit(1);
} finally {
  await setupSql.end({ timeout: 5 });
}
const ctx = createContext(config, { logger: bootLogger });

const stops: (() => Promise<unknown>)[] = [];

// Without GONKA_NODES the gateway runs against its built-in node simulator, so a fresh clone works.
let nodeUrls = config.GONKA_NODES;
if (nodeUrls.length === 0 && (roles.has('api') || roles.has('workers'))) {
  const sim = await startSimulator({
    nodes: config.SIMULATOR_NODES,
    logger: ctx.logger.child({ role: 'simulator' }),
  });
  nodeUrls = sim.urls;
  stops.push(() => sim.close());
  ctx.logger.warn(
    { nodes: nodeUrls },
    'GONKA_NODES is not set: serving from the built-in Gonka node simulator',
  );
}
// Not awaited: a Redis that is slow to answer must not hold start-up.
void warnIfClockOff(ctx);
const queues = createQueues(ctx);
// Bounded: cut off from Redis, closing waits on commands queued in the Redis client (a hand-off
// handOffWithin gave up on) until Redis is back, and the process would not exit through an outage.
stops.push(() => closedWithin('queues', queues.close()));
// Stops run in reverse: this one after the api and the workers stopped, before the queues close.
stops.push(settleBeforeExit);
// And before that, the accepted jobs whose hand-off is still in flight.
stops.push(() => handOffWithin('accepted jobs', drainInferenceHandoff(queues)));

const upstream = roles.has('api') || roles.has('workers') ? await createUpstream(ctx, nodeUrls) : null;
// The roles that admit requests say they are alive: reconciliation gives back at once what a dead
// one admitted and never wrote (release-orphans.ts).
if (upstream) {
  const stopHeartbeat = startInstanceHeartbeat(ctx);
  stops.push(async () => stopHeartbeat());
}
if (upstream) stops.push(() => upstream.close());

if (roles.has('workers') && upstream) {
  // A stuck settlement transaction (workers/settlement.ts): end the process rather than look
  // healthy while billing nothing; its supervisor restarts it and the settlements run again.
  const onWedged = () => ctx.logger.flush(() => process.exit(70));
  stops.push(startWorkers(ctx, { upstream, queues, settlement: { onSettled: observeSettlement, onWedged } }));
  ctx.logger.info('workers started');
}

if (roles.has('scheduler')) {
  // With the api or workers role in this process, its upstream's prices and nodes are refreshed too.
  const scheduler = startScheduler(ctx, { queues, ...(upstream ? { upstream } : {}) });
  stops.push(() => scheduler.stop());
  ctx.logger.info('scheduler started');
}
let stopping: Promise<void> | null = null;
let firstSignalAt = 0;
/**
 * A signal again within this long is the first one arriving twice, not an operator's second: Ctrl-C
 * on `npm start` reaches npm and the gateway both, and npm forwards its own (as a process group's
 * SIGTERM does, systemd's default): two SIGINTs 3–6 ms apart stopped the gateway undrained (newcomer32).
 */
const SAME_SIGNAL_MS = 500;
async function shutdown(signal: string, exitCode = 0): Promise<void> {
  const isSignal = signal === 'SIGINT' || signal === 'SIGTERM';
  // The monotonic clock: a wall clock stepped back would make every signal for as long "the same".
  if (stopping && isSignal && performance.now() - firstSignalAt < SAME_SIGNAL_MS) {
    ctx.logger.info(
      { signal },
      'the same signal again at once (npm and the terminal both send it): still draining',
    );
    return;
  }
  if (stopping && isSignal) {
    // A second signal: the operator will not wait. What was in flight is left as a crash leaves
    // it (docs/operations.md, "What a crash costs"): jobs run again, holds are resolved by the scheduler.
    ctx.logger.warn({ signal }, 'second signal: stopping now, without draining');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  }
  if (isSignal && !stopping) firstSignalAt = performance.now();
  stopping ??= (async () => {
    ctx.logger.info(
      {
        signal,
        // How long a draining worker may wait for one node call, at most (each attempt, each node).
        nodeCallsUpToSeconds: roles.has('workers')
          ? (config.UPSTREAM_MAX_ATTEMPTS * config.UPSTREAM_TIMEOUT_MS) / 1000
          : undefined,
      },
      'shutting down: finishing the work in flight; send the signal again to stop at once',
    );
    // Stop taking work first, then drain, then close Redis and Postgres.
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        ctx.logger.warn({ err }, 'shutdown step failed');
      }
    }
    await closedWithin('redis and postgres', closeContext(ctx));
    ctx.logger.info({ signal, exitCode }, 'stopped');
  })();
  await stopping;
  process.exit(exitCode);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

if (!roles.has('api') && config.METRICS_PORT) {
  const registry = createMetricsRegistry(ctx, { queues, ...(upstream ? { upstream } : {}) });
  try {
    stops.push(
      await serveMetrics(registry, config.METRICS_PORT, config.HOST, ctx.logger, {
        token: config.METRICS_TOKEN,
        ready: () => readiness(ctx),
      }),
    );
    ctx.logger.info({ port: config.METRICS_PORT }, 'metrics listening');
  } catch (err) {
    // Two roles given one METRICS_PORT on one host (ops31).
    await cannotListen(err, config.METRICS_PORT, METRICS_PORT_TAKEN);
  }
}

if (roles.has('api') && upstream) {
  const server: Server = createApiServer(ctx, { upstream, queues });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.PORT, config.HOST, resolve);
    });
  } catch (err) {
    await cannotListen(err, config.PORT, API_PORT_TAKEN);
  }
  // The port bound (PORT=0 asks the system for one).
  const bound = server.address();
  ctx.logger.info(
    { port: typeof bound === 'object' && bound ? bound.port : config.PORT },
    'gateway listening',
  );
  stops.push(
    startUploadSpoolSweeper(uploadSpoolDir(), {
      logger: ctx.logger,
      requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    }),
  );
  stops.push(() =>
    closeApiServer(server, {
      afterMs: config.SHUTDOWN_STREAM_DRAIN_MS,
      onOverdue: () => {
        const streams = stopNodeCalls();
        if (streams > 0) ctx.logger.warn({ streams }, 'shutdown: ending the streams still open');
      },
    }),
  );
}

/**
 * A listener that could not bind: one line naming what to change (a port in use, a HOST that is no
 * address here), not a stack; the roles already started stop as on a signal.
 */
async function cannotListen(err: unknown, port: number, msg: string): Promise<void> {
  cannotListenLine(err, port, msg);
  await shutdown('listen failed', 1);
}

/** The one fatal line for a port this process cannot listen on, at start-up's check or at the bind. */
function cannotListenLine(err: unknown, port: number, msg: string): void {
  bootLogger.fatal({ err: err instanceof Error ? err.message : String(err), host: config.HOST, port }, msg);
}

/** Why `port` on `host` cannot be listened on now (in use, no such address), or null when it can. */
function bindError(port: number, host: string): Promise<Error | null> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', resolve);
    probe.listen(port, host, () => probe.close(() => resolve(null)));
  });
}

/** Whether `work` ended within `ms`; past them shutdown goes on without it (nothing is cancelled). */
async function endedWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const late = Symbol('late');
  return (await Promise.race([work, sleep(ms, late, { ref: false })])) !== late;
}

/** A shutdown step that closes connections, given a few seconds; past them the process exits all the same. */
async function closedWithin(what: string, closing: Promise<void>): Promise<void> {
  const ms = 3000;
  if (!(await endedWithin(closing, ms)))
    ctx.logger.warn({ what, ms }, 'shutdown: closing took too long; exiting without it');
}

/**
 * A shutdown hand-off to Redis, given SHUTDOWN_HANDOFF_WAIT_MS (see config for what follows a late
 * one); whether it was taken.
 */
async function handOffWithin(what: string, handOff: Promise<void>): Promise<boolean> {
  const ms = config.SHUTDOWN_HANDOFF_WAIT_MS;
  if (await endedWithin(handOff, ms)) return true;
  ctx.logger.error({ what, ms }, 'Redis did not take the hand-off in time; shutting down without it');
  return false;
}

/**
 * Finished requests to settle: handed to the queue, or, when Redis does not take them in time,
 * settled here in Postgres (given the same wait again: past it, what has not committed is left to
 * the sweeper) rather than lost with the process.
 */
async function settleBeforeExit(): Promise<void> {
  if (await handOffWithin('settlements', flushSettlementHandoff(ctx.sql, queues))) return;
  const settling = settleUnhanded(ctx, queues);
  const ended = await endedWithin(settling, config.SHUTDOWN_HANDOFF_WAIT_MS);
  const count = ended ? await settling : null;
  ctx.logger.warn(
    { requests: count, ended },
    'shutdown: settled in Postgres the requests Redis did not take; their Redis release waits for the scheduler’s check',
  );
}
