import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
  /** The gateway processes' error and fatal log lines so far. */
  errorLines(): string[];
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

/** The error and fatal lines (pino levels 50 and 60) a process printed so far. */
const errorLinesOf = (c: Child) =>
  c
    .output()
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l));

/** `keep`: leave the database and the Redis prefix behind for a look after the run. */
export async function startSoakStack(opts: { keep?: boolean } = {}): Promise<SoakStack> {
  const started: Child[] = [];
  const tag = randomBytes(4).toString('hex');
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const db = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  db.pathname = `/gonka_soak_${tag}`;
  const prefix = `soak_${tag}`;
  const adminToken = randomBytes(16).toString('hex');
  let workers: Child | undefined;

  const stop = async () => {
    await Promise.allSettled([workers, ...started.reverse()].map((c) => c?.stop(5000)));
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
    const api = role('api', { PORT: String(port) });
    started.push(api);
    const gatewayUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${gatewayUrl}/healthz`, 60_000);
    const startWorkers = async () => {
      const metricsPort = await freePort();
      workers = role('workers', { METRICS_PORT: String(metricsPort) });
      await waitForHttp(`http://127.0.0.1:${metricsPort}/metrics`, 60_000);
    };
    await startWorkers();
    started.push(role('scheduler'));
    const logs: string[] = [];
    const errorLines = () => [...logs, ...[...started, workers].flatMap((c) => (c ? errorLinesOf(c) : []))];
    return {
      gatewayUrl,
      adminToken,
      env,
      errorLines,
      async killWorkers(downMs) {
        const dead = workers!;
        // Lines it logged before it died are kept (a new process has a new output).
        logs.push(...errorLinesOf(dead));
        process.kill(dead.pid, 'SIGKILL');
        await dead.stop(0);
        await new Promise((r) => setTimeout(r, downMs));
        await startWorkers();
      },
      stop,
    };
  } catch (err) {
    for (const c of [...started, workers])
      if (c) process.stderr.write(`--- ${c.name}:\n${c.output().slice(-2000)}\n`);
    await stop();
    throw err;
  }
}
