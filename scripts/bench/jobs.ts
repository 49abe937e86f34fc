import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createSql, type Sql } from '../../shared/db/client.js';
import { redisOptionsFromUrl } from '../../shared/redis/client.js';
import { CHAT_BODY } from './chat-body.js';
import { byCommandLine, cpuUsed, machineBusyPercent, snapshotCpu } from './cpu.js';
import { createBenchCustomer } from './gateway-key.js';
import { jobsProgress, redisFootprint, settlementFacts, unfinished } from './jobs-db.js';
import { type JobsFacts, printJobsReport } from './jobs-report.js';
import { load, type Target } from './load.js';
import { paced } from './paced.js';
import { rssMb, runBench } from './processes.js';
import { type BenchStack, startStack } from './stack.js';

/**
 * `npm run bench:jobs` (DESIGN.md "Performance targets", async): the api and the workers in
 * processes of their own on a zero-latency simulator, measured in one run:
 * (a) POST /v1/jobs at full speed (autocannon, 64 connections) with the inference queue paused, so
 *     the figure is admission alone; the backlog it leaves is then run with settlement paused
 *     (inference throughput) and settled (settlement throughput, a backlog to chew through);
 * (b) POST /v1/jobs at a steady 1,500/s offered (open loop) with everything running; and, as its
 *     reference, the same schedule with the inference queue paused (admission's own latency, which
 *     tells it apart from the machine's contention with the workers); each beside a yardstick, a
 *     trivial request paced straight to the simulator meanwhile (the machine's own tail then);
 * (c) end to end: N jobs submitted as fast as possible, timed until every one succeeded in Postgres,
 *     and the settlement lag of each (job completed → hold resolved);
 * plus api/worker RSS and the Redis memory left under the run's prefix once all is done.
 * Each phase uses a customer of its own, so the books tell the phases apart.
 */
const BURST_S = Number(process.env.BENCH_BURST_S ?? 10);
const PACED_RATE = 1500;
const PACED_S = 10;
/** Seconds of the same schedule before (b) counts (see paced). */
const PACED_WARMUP_S = 2;
const E2E_JOBS = Number(process.env.BENCH_E2E_JOBS ?? 20_000);
const CONNECTIONS = 64;
/**
 * (b)'s yardstick, paced at the same time: the simulator's chat straight (one Node hop, no
 * gateway), so the report shows what a trivial request's tail is on this machine at that moment.
 */
const YARDSTICK_RATE = 100;
/** POST /v1/jobs: bench:chat's request, as a job. */
const BODY = `{"request":${CHAT_BODY}}`;

let stack: BenchStack | undefined;

async function main(): Promise<void> {
  const busyBefore = await machineBusyPercent();
  stack = await startStack({
    split: true,
    workersNice: Number(process.env.BENCH_WORKERS_NICE ?? 0),
    // Node flags for the gateway processes, to try one (e.g. `--max-semi-space-size=32`).
    ...(process.env.BENCH_NODE_FLAGS ? { nodeFlags: process.env.BENCH_NODE_FLAGS.split(/\s+/) } : {}),
    ...(process.env.BENCH_CPU_PROF ? { cpuProfDir: process.env.BENCH_CPU_PROF } : {}),
  });
  const s = stack;
  const sql = createSql(s.databaseUrl, { max: 2 });
  const redis = new Redis(s.redisUrl);
  const connection = redisOptionsFromUrl(s.redisUrl);
  const queue = (name: string) => new Queue(name, { connection, prefix: `${s.prefix}:bull` });
  const inference = queue('inference');
  const settlement = queue('settlement');
  let peak = { api: 0, workers: 0 };
  const sampler = setInterval(() => {
    peak = {
      api: Math.max(peak.api, rssMb(s.api.pid)),
      workers: Math.max(peak.workers, rssMb(s.workers!.pid)),
    };
  }, 250);
  try {
    const [burst, alone, steady, e2e] = [
      await createBenchCustomer(s.gatewayUrl, s.adminToken),
      await createBenchCustomer(s.gatewayUrl, s.adminToken),
      await createBenchCustomer(s.gatewayUrl, s.adminToken),
      await createBenchCustomer(s.gatewayUrl, s.adminToken),
    ];
    const target = (childKey: string): Target => ({
      name: 'POST /v1/jobs',
      url: `${s.gatewayUrl}/v1/jobs`,
      headers: { authorization: `Bearer ${childKey}` },
    });
    const groups = {
      loadgen: () => [process.pid],
      api: () => [s.api.pid],
      workers: () => [s.workers!.pid],
      simulator: () => [s.sim.pid],
      postgres: byCommandLine(new RegExp(`^postgres: .* ${s.databaseName} `)),
      redis: byCommandLine(/^redis-server /),
    };
    const redisBefore = await redisFootprint(redis, s.prefix);

    // (a) Admission alone: the queue takes the jobs, nothing runs them yet.
    log('(a) burst: POST /v1/jobs at full speed, inference paused');
    await inference.pause();
    await load(target(burst.childKey), BODY, CONNECTIONS, 2);
    let cpu = snapshotCpu(groups);
    const a = await load(target(burst.childKey), BODY, CONNECTIONS, BURST_S);
    const aCpu = cpuUsed(cpu, snapshotCpu(groups));

    log('    running the backlog with settlement paused, then settling it');
    await settlement.pause();
    const inferStart = Date.now();
    await inference.resume();
    const backlog = await untilDone(sql, [inference], 90_000, burst.accountId, 'jobs', () =>
      jobsProgress(sql, burst.accountId),
    );
    const settleStart = Date.now();
    await settlement.resume();
    const settledBacklog = await untilDone(sql, [settlement], 60_000, burst.accountId, 'holds', () =>
      settlementFacts(sql, burst.accountId),
    );

    // (b) A steady offered rate: first admission alone (its jobs run afterwards, untimed), then
    // with the whole pipeline running behind it.
    log(`(b) steady: ${PACED_RATE}/s offered for ${PACED_S} s, inference paused`);
    await inference.pause();
    const yardstick: Target = { name: 'simulator', url: `${s.simUrls[0]}/v1/chat/completions`, headers: {} };
    const withYardstick = (childKey: string) =>
      Promise.all([
        paced(target(childKey), BODY, PACED_RATE, PACED_S, PACED_WARMUP_S),
        paced(yardstick, CHAT_BODY, YARDSTICK_RATE, PACED_S, PACED_WARMUP_S),
      ]);
    const [bAlone, bAloneYardstick] = await withYardstick(alone.childKey);
    await inference.resume();
    await untilDone(sql, [inference, settlement], 60_000, alone.accountId, 'holds', async () => null);

    log(`(b) steady: ${PACED_RATE}/s offered for ${PACED_S} s, after ${PACED_WARMUP_S} s at the same rate`);
    const [b, bYardstick] = await withYardstick(steady.childKey);
    await untilDone(sql, [inference, settlement], 60_000, steady.accountId, 'holds', async () => null);

    // (c) End to end: submitted as fast as possible, timed to the last job succeeded.
    log(`(c) end to end: ${E2E_JOBS} jobs`);
    cpu = snapshotCpu(groups);
    const e2eStart = Date.now();
    const c = await load(target(e2e.childKey), BODY, CONNECTIONS, 120, E2E_JOBS);
    const done = await untilDone(sql, [inference], 120_000, e2e.accountId, 'jobs', () =>
      jobsProgress(sql, e2e.accountId),
    );
    const cCpu = cpuUsed(cpu, snapshotCpu(groups));
    const settledE2e = await untilDone(sql, [settlement], 60_000, e2e.accountId, 'holds', () =>
      settlementFacts(sql, e2e.accountId),
    );

    clearInterval(sampler);
    const facts: JobsFacts = {
      busyBefore,
      burstS: BURST_S,
      a,
      aCpu,
      backlog,
      inferStart,
      settledBacklog,
      settleStart,
      pacedRate: PACED_RATE,
      pacedS: PACED_S,
      pacedWarmupS: PACED_WARMUP_S,
      bAlone,
      b,
      yardstickRate: YARDSTICK_RATE,
      yardstick: { alone: bAloneYardstick, withPipeline: bYardstick },
      c,
      cCpu,
      e2eStart,
      done,
      settledE2e,
      peakRss: peak,
      afterRss: { api: rssMb(s.api.pid), workers: rssMb(s.workers!.pid) },
      redisBefore,
      redisAfter: await redisFootprint(redis, s.prefix),
      finishedJobs: backlog.total + done.total,
    };
    printJobsReport(facts);
  } finally {
    clearInterval(sampler);
    await Promise.allSettled([inference.close(), settlement.close()]);
    redis.disconnect();
    await sql.end({ timeout: 5 });
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Waits until the account has no live jobs (or no open holds), then reads the full figures once.
 * While the queues still hold work only Redis is asked (their counts); Postgres is asked only once
 * they are idle, so the wait costs the pipeline being measured next to nothing. A pipeline too
 * slow to finish within `timeoutMs` is a result too: the figures are read anyway (and the report
 * shows what did not finish).
 */
async function untilDone<T>(
  sql: Sql,
  queues: Queue[],
  timeoutMs: number,
  accountId: string,
  what: 'jobs' | 'holds',
  read: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const queued = await Promise.all(
      queues.map((q) => q.getJobCountByTypes('wait', 'paused', 'prioritized', 'delayed', 'active')),
    );
    const left = queued.some((n) => n > 0) ? null : (await unfinished(sql, accountId))[what];
    if (left === 0) break;
    if (Date.now() > deadline) {
      log(`    not finished within ${timeoutMs / 1000} s: ${left ?? 'queued'} ${what} left`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return read();
}

await runBench(main, async () => {
  await stack?.stop();
});
