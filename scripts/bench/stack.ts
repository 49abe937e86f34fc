import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setPriority } from 'node:os';
import { Redis } from 'ioredis';
import { createSql } from '../../shared/db/client.js';
import { GATEWAY_NODE_FLAGS } from '../node-flags.js';
import { type Child, freePort, startChild, waitForHttp } from './processes.js';

/**
 * The gateway as the benchmarks run it: a zero-latency simulator, the api role and (split) the
 * workers role each in a process of its own, on 127.0.0.1 only, with a fresh database on
 * DATABASE_URL's server and a fresh Redis prefix, both removed again by `stop`: every run starts
 * from empty tables, not from the bloat of earlier runs.
 */
export interface BenchStack {
  sim: Child;
  api: Child;
  /** The workers process; undefined when the api process runs them too (split = false). */
  workers: Child | undefined;
  simUrls: string[];
  gatewayUrl: string;
  adminToken: string;
  /** Redis key prefix of this run (admission keys and `${prefix}:bull` queues). */
  prefix: string;
  redisUrl: string;
  databaseUrl: string;
  /** `gonka_bench_…`: Postgres names it in each backend's command line (see cpu.ts byCommandLine). */
  databaseName: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Workers in their own process (as docker-compose runs them). */
  split: boolean;
  /** Write V8 CPU profiles of the gateway processes (api, workers) into this directory. */
  cpuProfDir?: string;
  /**
   * Node flags for the gateway processes after GATEWAY_NODE_FLAGS (the last of a flag wins, so
   * `--max-semi-space-size=16` measures Node's default).
   */
  nodeFlags?: string[];
  /**
   * Scheduling priority of the workers process (`nice`, 0-19): on a machine the api shares with
   * them, the request path first and the queues on what is left.
   */
  workersNice?: number;
  /** The bundle to run instead of a fresh dist/start.mjs (bench:ab compares two builds). */
  bundle?: string;
}

const TSX = ['--import', 'tsx'];

export async function startStack(opts: StackOptions): Promise<BenchStack> {
  const started: Child[] = [];
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const tag = randomBytes(4).toString('hex');
  const db = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const databaseName = `gonka_bench_${tag}`;
  db.pathname = `/${databaseName}`;
  const prefix = `bench_${tag}`;
  const adminToken = randomBytes(16).toString('hex');

  const stop = async () => {
    // A profiled process writes its profile on the way out: give it time.
    const grace = opts.cpuProfDir ? 30_000 : 5_000;
    await Promise.allSettled(started.reverse().map((c) => c.stop(grace)));
    await Promise.allSettled([unlinkPrefix(redisUrl, prefix), dropDatabase(db)]);
  };
  try {
    const sim = startChild('simulator', [...TSX, 'scripts/simulator.ts'], {
      SIM_PORT: '0',
      SIM_HOST: '127.0.0.1',
      SIM_LATENCY_MS: '0',
      LOG_LEVEL: 'warn',
    });
    started.push(sim);
    const simUrls = (await sim.waitForLine(/GONKA_NODES=(\S+)/))[1]!.split(',');

    const port = await freePort();
    const env = {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: db.toString(),
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      GONKA_NODES: simUrls.join(','),
      JWT_SECRET: randomBytes(32).toString('hex'),
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'warn',
    };
    const flags = [...GATEWAY_NODE_FLAGS, ...(opts.nodeFlags ?? [])];
    const profile = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
    // As `npm start` runs the gateway: the bundle, under plain node.
    if (!opts.bundle) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
    const start = (roles: string) => [...flags, opts.bundle ?? 'dist/start.mjs', '--roles', roles];
    const api = startChild('gateway', [...profile, ...start(opts.split ? 'api' : 'api,workers')], env);
    started.push(api);
    // The workers process serves only /metrics: that it answers says its workers are running.
    const metricsPort = await freePort();
    const workers = opts.split
      ? startChild('workers', [...profile, ...start('workers')], {
          ...env,
          METRICS_PORT: String(metricsPort),
        })
      : undefined;
    if (workers) started.push(workers);
    if (workers && opts.workersNice) setPriority(workers.pid, opts.workersNice);

    const gatewayUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${gatewayUrl}/healthz`, 60_000);
    if (workers) await waitForHttp(`http://127.0.0.1:${metricsPort}/metrics`, 60_000);
    return {
      sim,
      api,
      workers,
      simUrls,
      gatewayUrl,
      adminToken,
      prefix,
      redisUrl,
      databaseUrl: db.toString(),
      databaseName,
      stop,
    };
  } catch (err) {
    for (const c of started) process.stderr.write(`--- ${c.name}:\n${c.output().slice(-2000)}\n`);
    await stop();
    throw err;
  }
}

export async function dropDatabase(db: URL): Promise<void> {
  const admin = new URL(db);
  admin.pathname = '/postgres';
  const sql = createSql(admin.toString(), { max: 1 });
  try {
    await sql.unsafe(`drop database if exists "${db.pathname.slice(1)}" with (force)`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The run's admission keys and queues live under its own prefix: leave Redis as it was. */
export async function unlinkPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
