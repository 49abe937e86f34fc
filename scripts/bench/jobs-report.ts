import type { JobsProgress, RedisFootprint, SettlementFacts } from './jobs-db.js';
import type { LoadResult } from './load.js';

export interface JobsFacts {
  busyBefore: number;
  burstS: number;
  a: LoadResult;
  aCpu: Record<string, number>;
  backlog: JobsProgress;
  inferStart: number;
  settledBacklog: SettlementFacts;
  settleStart: number;
  pacedRate: number;
  pacedS: number;
  pacedWarmupS: number;
  /** (b) with the inference queue paused: admission's own latency at that rate. */
  bAlone: LoadResult;
  b: LoadResult;
  yardstickRate: number;
  /** The simulator's chat straight, paced at `yardstickRate` alongside each (b). */
  yardstick: { alone: LoadResult; withPipeline: LoadResult };
  c: LoadResult;
  cCpu: Record<string, number>;
  e2eStart: number;
  done: JobsProgress;
  settledE2e: SettlementFacts;
  peakRss: { api: number; workers: number };
  afterRss: { api: number; workers: number };
  redisBefore: RedisFootprint;
  redisAfter: RedisFootprint;
  finishedJobs: number;
}

const num = (n: number | null, d: number, w = 9) => (n === null ? '-' : n.toFixed(d)).padStart(w);
const perS = (n: number, fromMs: number, toMs: number | null) =>
  toMs === null || toMs <= fromMs ? 0 : (n * 1000) / (toMs - fromMs);
const mark = (ok: boolean) => (ok ? '✓' : '✗');

/** The phase table, the DESIGN.md targets with ✓/✗, memory, and CPU per job by process. */
export function printJobsReport(f: JobsFacts): void {
  const inferRate = perS(f.backlog.succeeded, f.inferStart, f.backlog.lastCompletedMs);
  const settleRate = perS(f.settledBacklog.resolved, f.settleStart, f.settledBacklog.lastResolvedMs);
  const e2eRate = perS(f.done.succeeded, f.e2eStart, f.done.lastCompletedMs);
  const redisGrowth = f.redisAfter.bytes - f.redisBefore.bytes;

  console.log('\nasync jobs, zero-latency simulator, api and workers in separate processes');
  console.log(`machine CPU busy in the second before the run: ${f.busyBefore}%`);
  console.log(`(b) counts ${f.pacedS} s that follow ${f.pacedWarmupS} s of the same schedule, uncounted`);
  console.log(
    `${'phase'.padEnd(56)} ${'jobs'.padStart(7)} ${'per s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'errors'.padStart(7)}`,
  );
  const row = (name: string, n: number, rate: number, p50: number | null, p99: number | null, err = 0) =>
    console.log(
      `${name.padEnd(56)} ${String(n).padStart(7)} ${num(rate, 0)} ${num(p50, 2)} ${num(p99, 2)} ${String(err).padStart(7)}`,
    );
  row(
    `(a) POST /v1/jobs, c=64, ${f.burstS} s, queue paused`,
    f.a.requests,
    f.a.rps,
    f.a.p50Ms,
    f.a.p99Ms,
    f.a.errors,
  );
  row(
    '    its backlog run by the workers (inference)',
    f.backlog.succeeded,
    inferRate,
    null,
    null,
    f.backlog.failed,
  );
  row('    its backlog settled (settlement)', f.settledBacklog.resolved, settleRate, null, null);
  row(
    `(b) POST /v1/jobs, ${f.pacedRate}/s offered, ${f.pacedS} s, queue paused`,
    f.bAlone.requests,
    f.bAlone.rps,
    f.bAlone.p50Ms,
    f.bAlone.p99Ms,
    f.bAlone.errors,
  );
  row(
    `    the same, with the pipeline running behind it`,
    f.b.requests,
    f.b.rps,
    f.b.p50Ms,
    f.b.p99Ms,
    f.b.errors,
  );
  for (const [when, y] of [
    ['paused', f.yardstick.alone],
    ['pipeline running', f.yardstick.withPipeline],
  ] as const)
    row(
      `    yardstick: simulator straight, ${f.yardstickRate}/s, ${when}`,
      y.requests,
      y.rps,
      y.p50Ms,
      y.p99Ms,
      y.errors,
    );
  row('(c) end to end: submitted (c=64)', f.c.requests, f.c.rps, f.c.p50Ms, f.c.p99Ms, f.c.errors);
  row('    succeeded in Postgres (from first submit)', f.done.succeeded, e2eRate, null, null, f.done.failed);
  row(
    '    settlement lag (job completed → hold posted)',
    f.settledE2e.resolved,
    perS(f.settledE2e.resolved, f.settledE2e.firstResolvedMs ?? 0, f.settledE2e.lastResolvedMs),
    f.settledE2e.lagP50Ms,
    f.settledE2e.lagP99Ms,
  );

  const paced = [
    ['(b) queue paused', f.bAlone],
    ['(b) pipeline running', f.b],
  ] as const;
  // A failed request is worth knowing by kind: a status, a socket error, or no answer at all.
  for (const [phase, r] of paced)
    if (r.errors > 0)
      console.log(
        `errors in ${phase}: ${Object.entries(r.errorKinds ?? {})
          .map(([k, n]) => `${k} ×${n}`)
          .join(', ')}`,
      );

  // Where the tail comes from: a few 100 ms windows holding most of the slowest 1% are stalls.
  for (const [phase, r] of paced) {
    const windows = r.slowestByWindow ?? [];
    const slowest = windows.reduce((n, [, c]) => n + c, 0);
    if (slowest === 0) continue;
    const top = windows.slice(0, 3);
    const inTop = top.reduce((n, [, c]) => n + c, 0);
    console.log(
      `slowest 1% in ${phase}: ${slowest} answers due in ${windows.length} windows of 100 ms; the busiest ${top.length} hold ${Math.round((100 * inTop) / slowest)}% (${top.map(([at, c]) => `${(at / 1000).toFixed(1)} s: ${c}`).join(', ')})`,
    );
  }

  const kept = f.redisAfter.completedKept;
  const bounded = Object.values(kept).every((n) => n <= 1000);
  console.log('\ntargets (DESIGN.md "Performance targets"):');
  console.log(`  ${mark(f.a.rps >= 3000)} async admission ≥ 3,000 accepted/s: ${f.a.rps.toFixed(0)}/s`);
  console.log(
    `  ${mark(f.b.p99Ms <= 25)} admission p99 ≤ 25 ms at 1,500/s offered: ${f.b.p99Ms.toFixed(2)} ms with the pipeline running (${f.bAlone.p99Ms.toFixed(2)} ms with the queue paused; one trivial hop straight to the simulator meanwhile: p99 ${f.yardstick.withPipeline.p99Ms.toFixed(2)} ms and ${f.yardstick.alone.p99Ms.toFixed(2)} ms)`,
  );
  console.log(`  ${mark(settleRate >= 5000)} settlement ≥ 5,000 settled/s: ${settleRate.toFixed(0)}/s`);
  const lag = f.settledE2e.lagP99Ms ?? Number.NaN;
  console.log(`  ${mark(lag <= 2000)} settlement lag p99 ≤ 2 s: ${(lag / 1000).toFixed(3)} s`);
  console.log(`  ${mark(e2eRate >= 2000)} end-to-end ≥ 2,000 jobs/s: ${e2eRate.toFixed(0)}/s`);
  console.log(
    `  ${mark(f.peakRss.api <= 250)} api RSS ≤ 250 MB under load: peak ${f.peakRss.api} MB (${f.afterRss.api} MB after); workers peak ${f.peakRss.workers} MB (${f.afterRss.workers} MB after)`,
  );
  console.log(
    `  ${mark(bounded)} Redis memory per finished job bounded: ${(redisGrowth / 1048576).toFixed(1)} MB more under the prefix after ${f.finishedJobs} jobs (${(redisGrowth / Math.max(f.finishedJobs, 1)).toFixed(0)} B/job, ${f.redisAfter.keys} keys); finished jobs kept: ${Object.entries(
      kept,
    )
      .map(([q, n]) => `${q} ${n}`)
      .join(', ')} (removeOnComplete count 1000)`,
  );

  const groups = Object.keys(f.aCpu);
  console.log('\nCPU ms per job, by process (redis is shared with anything else using it):');
  console.log(`${'phase'.padEnd(24)} ${groups.map((g) => g.padStart(10)).join(' ')}`);
  for (const [name, cpu, n] of [
    ['(a) admission only', f.aCpu, f.a.requests],
    ['(c) end to end', f.cCpu, f.done.succeeded],
  ] as const)
    console.log(
      `${name.padEnd(24)} ${groups.map((g) => num((cpu[g] ?? 0) / Math.max(n, 1), 3, 10)).join(' ')}`,
    );
}
