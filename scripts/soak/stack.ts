import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Child, freePort, startChild, waitForHttp } from '../bench/processes.js';
import { dropDatabase, unlinkPrefix } from '../bench/stack.js';
import { GATEWAY_NODE_FLAGS } from '../node-flags.js';

/**
 * The gateway as the soak runs it: the simulator, then the api, the workers and the scheduler each
 * in a process of its own (the bundle under plain node, as `npm start` runs it), on a fresh
 * database and Redis prefix that `stop` removes again. The scheduler's tasks run every few seconds
 * and jobs are retried and recovered quickly, so a run reaches quiescence soon after its load ends.
 */
export interface SoakStack {
  gatewayUrl: string;
  adminToken: string;
  /** The environment every gateway process runs with: the soak reads the same books through it. */
  env: Record<string, string>;
  /** SIGKILL the workers process (as a crash would) and start a new one after `downMs`. */
  killWorkers(downMs: number): Promise<void>;
  /** SIGKILL the api process mid-traffic and start a new one on the same port after `downMs`. */
  killApi(downMs: number): Promise<void>;
  /**
   * SIGKILL the scheduler holding the leader lock (any one if none holds it), wait for the other
   * replica to take the lock over, and start a new one `downMs` later. Resolves with how long the
   * takeover took, or null if no other replica held the lock within `LEADER_TAKEOVER_MS`.
   */
  killScheduler(downMs: number): Promise<number | null>;
  /**
   * Lose every Redis key of the run's prefix at one instant, BullMQ's queues included, as a Redis
   * restarted without persistence does (the shared server itself is neither flushed nor restarted).
   * Resolves with how many keys went, and the hold records among them.
   */
  loseRedis(): Promise<{ keys: number; holdRecords: LostHoldRecord[] }>;
  /** The operator's recovery, `npm run reconcile -- --fix`, with the gateway's environment. */
  reconcileFix(): Promise<{ code: number | null; output: string }>;
  /** Whether the last reconcileFix did not end clean (exit 1: drift, or accounts too busy to repair). */
  fixesLeft(): boolean;
  /** The gateway processes' error and fatal log lines so far. */
  errorLines(): string[];
  /** The log lines of every process so far (killed ones' included) that contain `text`. */
  linesWith(text: string): string[];
  stop(): Promise<void>;
}

/** Short schedules and retries: what production does in minutes happens within a run. */
const SOAK_TIMINGS = {
  SCHEDULER_EXPIRE_CRON: '*/2 * * * * *',
  SCHEDULER_STALE_HOLDS_CRON: '*/5 * * * * *',
  SCHEDULER_LIMIT_ALERTS_CRON: '*/10 * * * * *',
  SCHEDULER_WEBHOOK_RESUME_CRON: '*/10 * * * * *',
  SCHEDULER_RECONCILE_CRON: '*/15 * * * * *',
  SCHEDULER_ROLLOVER_CRON: '*/30 * * * * *',
  SCHEDULER_REFRESH_CRON: '*/10 * * * * *',
  SCHEDULER_LOCK_TTL_MS: '6000',
  HOLD_GRACE_SECONDS: '20',
  SYNC_STREAM_MAX_SECONDS: '30',
  INFERENCE_LOCK_MS: '5000',
  INFERENCE_ATTEMPTS: '3',
  INFERENCE_BACKOFF_MS: '200',
  UPSTREAM_TIMEOUT_MS: '10000',
  BATCH_LINES_IN_FLIGHT: '4',
};

/**
 * How long the leader lock may take to pass to another scheduler replica: the lock's TTL, then
 * that replica's next task (every 2 s), with room for a loaded machine.
 */
const LEADER_TAKEOVER_MS = 30_000;

/** The lines a process printed so far that match. */
const linesOf = (c: Child, re: Pick<RegExp, 'test'>) =>
  c
    .output()
    .split('\n')
    .filter((l) => re.test(l));

/** Error and fatal lines (pino levels 50 and 60). */
const ERROR_LINE = /"level":(50|60)/;
/** Lines kept of a killed process (a new one has a new output): its errors, and the warnings some checks count. */
const KEPT_LINE = /"level":(40|50|60)/;

/**
 * Every key of a prefix deleted in one script, so no process sees Redis half lost (a restart loses
 * it all at once too). SCAN inside the script walks the whole keyspace while Redis waits: fine for
 * a soak's Redis, whose other tenants are tests and benches. Replies with how many keys went and,
 * flat, each hold record's name, key id, amount and admission ms: a record Postgres never got a row
 * for (a crash orphan) is known only by it, and held its key's RPM slot until this instant.
 */
const LOSE_PREFIX_LUA = `
local cursor, n, holds = '0', 0, {}
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    if string.find(k, ':h:', 1, true) then
      local rec = redis.call('HMGET', k, 'k', 'amt', 'at')
      if rec[1] and rec[2] then
        table.insert(holds, k); table.insert(holds, rec[1]); table.insert(holds, rec[2])
        table.insert(holds, rec[3] or '')
      end
    end
    redis.call('UNLINK', k); n = n + 1
  end
until cursor == '0'
return {n, holds}`;

/** Lose every key of `prefix` at one instant (LOSE_PREFIX_LUA): how many, and the hold records among them. */
export async function loseRedisPrefix(
  redis: Redis,
  prefix: string,
): Promise<{ keys: number; holdRecords: LostHoldRecord[] }> {
  const [keys, flat] = (await redis.eval(LOSE_PREFIX_LUA, 0, `${prefix}:*`)) as [number, string[]];
  const holdRecords: LostHoldRecord[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    const at = flat[i + 3]!;
    holdRecords.push({
      name: flat[i]!,
      keyId: flat[i + 1]!,
      amount: BigInt(flat[i + 2]!),
      at: /^\d+$/.test(at) ? Number(at) : null,
    });
  }
  return { keys, holdRecords };
}

/** A hold record a Redis loss deleted (LOSE_PREFIX_LUA). */
export interface LostHoldRecord {
  /** The record's Redis key (`…{a:<account>}:h:<hold id>`). */
  name: string;
  keyId: string;
  amount: bigint;
  /** When it was admitted (ms), where the record says. */
  at: number | null;
}

/**
 * `keep`: leave the database and the Redis prefix behind for a look after the run. `schedulers`:
 * how many scheduler replicas (one leader among them) run.
 */
export async function startSoakStack(opts: { keep?: boolean; schedulers?: number } = {}): Promise<SoakStack> {
  const started: Child[] = [];
  const tag = randomBytes(4).toString('hex');
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const db = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  db.pathname = `/gonka_soak_${tag}`;
  const prefix = `soak_${tag}`;
  const adminToken = randomBytes(16).toString('hex');
  let workers: Child | undefined;
  let api: Child | undefined;
  const schedulers: Child[] = [];

  const stop = async () => {
    await Promise.allSettled([workers, ...schedulers, api, ...started.reverse()].map((c) => c?.stop(5000)));
    if (opts.keep) console.log(`kept: DATABASE_URL=${db} REDIS_PREFIX=${prefix}`);
    else await Promise.allSettled([unlinkPrefix(redisUrl, prefix), dropDatabase(db)]);
  };
  try {
    const sim = startChild('simulator', ['--import', 'tsx', 'scripts/simulator.ts'], {
      SIM_PORT: '0',
      SIM_NODES: '3',
      LOG_LEVEL: 'warn',
    });
    started.push(sim);
    const nodes = (await sim.waitForLine(/GONKA_NODES=(\S+)/))[1]!;
    const port = await freePort();
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      DATABASE_URL: db.toString(),
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      GONKA_NODES: nodes,
      JWT_SECRET: randomBytes(32).toString('hex'),
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'warn',
      REGISTER_MAX_PER_IP: '100000',
      ...SOAK_TIMINGS,
    };
    execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
    const role = (name: string, extra: Record<string, string> = {}) =>
      startChild(name, [...GATEWAY_NODE_FLAGS, 'dist/start.mjs', '--roles', name], { ...env, ...extra });
    // The api migrates the database; the others start once it serves.
    const gatewayUrl = `http://127.0.0.1:${port}`;
    const startApi = async () => {
      api = role('api', { PORT: String(port) });
      await waitForHttp(`${gatewayUrl}/healthz`, 60_000);
    };
    /** A role without the api's port, up once its metrics answer. */
    const startServing = async (name: string) => {
      const metricsPort = await freePort();
      const child = role(name, { METRICS_PORT: String(metricsPort) });
      await waitForHttp(`http://127.0.0.1:${metricsPort}/metrics`, 60_000);
      return child;
    };
    const startWorkers = async () => {
      workers = await startServing('workers');
    };
    await startApi();
    await startWorkers();
    for (let i = 0; i < (opts.schedulers ?? 1); i++) schedulers.push(await startServing('scheduler'));
    const logs: string[] = [];
    const linesMatching = (re: Pick<RegExp, 'test'>) => [
      ...logs.filter((l) => re.test(l)),
      ...[...started, api, workers, ...schedulers].flatMap((c) => (c ? linesOf(c, re) : [])),
    ];
    const errorLines = () => linesMatching(ERROR_LINE);
    const linesWith = (text: string) => linesMatching({ test: (l: string) => l.includes(text) });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const kill = async (dead: Child) => {
      // Lines it logged before it died are kept (a new process has a new output).
      logs.push(...linesOf(dead, KEPT_LINE));
      process.kill(dead.pid, 'SIGKILL');
      await dead.stop(0);
    };
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
    let lastFixCode: number | null = null;
    const stopAll = async () => {
      redis.disconnect();
      await stop();
    };
    return {
      gatewayUrl,
      adminToken,
      env,
      errorLines,
      linesWith,
      async killWorkers(downMs) {
        await kill(workers!);
        await sleep(downMs);
        await startWorkers();
      },
      async killApi(downMs) {
        await kill(api!);
        await sleep(downMs);
        await startApi();
      },
      async killScheduler(downMs) {
        // The lock's value is `host:pid:nonce` (shared/scheduler/leader.ts).
        const holder = async () => Number((await redis.get(`${prefix}:sched:leader`))?.split(':')[1]);
        const leader = await holder();
        const i = Math.max(
          0,
          schedulers.findIndex((c) => c.pid === leader),
        );
        const dead = schedulers[i]!;
        await kill(dead);
        schedulers.splice(i, 1);
        const killedAt = Date.now();
        let tookOver: number | null = null;
        while (Date.now() - killedAt < LEADER_TAKEOVER_MS) {
          const pid = await holder();
          if (pid && pid !== dead.pid) {
            tookOver = Date.now() - killedAt;
            break;
          }
          await sleep(250);
        }
        await sleep(downMs);
        schedulers.push(await startServing('scheduler'));
        return tookOver;
      },
      loseRedis: () => loseRedisPrefix(redis, prefix),
      fixesLeft: () => lastFixCode !== null && lastFixCode !== 0,
      reconcileFix() {
        return new Promise((resolve) => {
          execFile(
            process.execPath,
            ['--import', 'tsx', 'scripts/reconcile.ts', '--fix'],
            { env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, maxBuffer: 16 << 20 },
            (err, stdout, stderr) => {
              lastFixCode = err ? ((err as { code?: number }).code ?? 2) : 0;
              resolve({ code: lastFixCode, output: stdout + stderr });
            },
          );
        });
      },
      stop: stopAll,
    };
  } catch (err) {
    for (const c of [...started, api, workers, ...schedulers])
      if (c) process.stderr.write(`--- ${c.name}:\n${c.output().slice(-2000)}\n`);
    await stop();
    throw err;
  }
}
