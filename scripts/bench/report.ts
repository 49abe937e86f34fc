import { availableParallelism } from 'node:os';
import type { LoadResult } from './load.js';

export interface Row {
  target: string;
  r: LoadResult;
  /** CPU ms each process group used during the run. */
  cpu: Record<string, number>;
  /** Every round's req/s, in order (a median row). */
  rounds?: number[];
  /** The proxy's event loop thread during the run: % of wall time running, and runnable but waiting for a CPU. */
  thread?: { runPct: number; waitPct: number } | null;
}

/**
 * One target's rounds as one row: the round with the median req/s (its latencies with it), and the
 * CPU of all rounds over all their requests.
 */
export function medianRound(rounds: Row[]): Row {
  const sorted = [...rounds].sort((a, b) => a.r.rps - b.r.rps);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const requests = rounds.reduce((n, x) => n + x.r.requests, 0);
  const cpu: Record<string, number> = {};
  for (const x of rounds) for (const [g, ms] of Object.entries(x.cpu)) cpu[g] = (cpu[g] ?? 0) + ms;
  // Scaled to the median round's request count, so per-request CPU reads over every round.
  for (const g of Object.keys(cpu)) cpu[g] = (cpu[g]! * mid.r.requests) / requests;
  const errors = rounds.reduce((n, x) => n + x.r.errors, 0); // every round's, not the median's
  return { ...mid, r: { ...mid.r, errors }, cpu, rounds: rounds.map((x) => x.r.rps) };
}

export interface RunFacts {
  warmupS: number;
  c1S: number;
  c32S: number;
  rounds: number;
  peakRssMb: number;
  afterRssMb: number;
  drainMs: number;
  /** The machine's CPU use before anything of the benchmark started. */
  busyBefore: number;
}

const num = (n: number, d: number, w = 9) => n.toFixed(d).padStart(w);

/** The table, the two target lines of DESIGN.md, memory, and where the CPU went per request. */
export function printReport(rows: Row[], facts: RunFacts): void {
  const groups = Object.keys(rows[0]?.cpu ?? {});
  console.log(
    `\nsync chat, non-stream, zero-latency simulator (warm-up ${facts.warmupS} s at c=32 per target; ${facts.rounds} interleaved rounds of c=1 ${facts.c1S} s and c=32 ${facts.c32S} s per target; the median round shown)`,
  );
  console.log(`machine CPU busy in the second before the run: ${facts.busyBefore}%`);
  console.log(
    `${'target'.padEnd(22)} ${'conns'.padStart(5)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'errors'.padStart(7)}  req/s per round`,
  );
  for (const { target, r, rounds } of rows)
    console.log(
      `${target.padEnd(22)} ${String(r.connections).padStart(5)} ${num(r.rps, 0)} ${num(r.p50Ms, 2)} ${num(r.p99Ms, 2)} ${String(r.errors).padStart(7)}  ${(rounds ?? []).map((x) => x.toFixed(0)).join(' / ')}`,
    );

  const get = (prefix: string, c: number) =>
    rows.find((x) => x.target.startsWith(prefix) && x.r.connections === c)?.r;
  const gw1 = get('gateway', 1);
  const sim1 = get('simulator', 1);
  const gw32 = get('gateway', 32);
  const pk32 = get('portkey', 32);
  const pt1 = get('passthrough', 1);
  if (gw1 && sim1)
    console.log(
      `\ngateway p50 added at c=1: ${(gw1.p50Ms - sim1.p50Ms).toFixed(2)} ms (target ≤ 1 ms)${pt1 ? `; a bare pass-through proxy added ${(pt1.p50Ms - sim1.p50Ms).toFixed(2)} ms` : ''}`,
    );
  if (gw32 && pk32)
    console.log(`gateway/portkey throughput at c=32: ${(gw32.rps / pk32.rps).toFixed(2)}× (target ≥ 4×)`);
  const pt32 = get('passthrough', 32);
  if (gw32 && pk32 && pt32)
    console.log(
      `  for scale: a bare Node pass-through proxy did ${pt32.rps.toFixed(0)} req/s = ${(pt32.rps / pk32.rps).toFixed(2)}× portkey; the gateway reached ${((100 * gw32.rps) / pt32.rps).toFixed(0)}% of it (4× portkey would be ${((400 * pk32.rps) / pt32.rps).toFixed(0)}%)`,
    );
  console.log(
    `gateway api process RSS: peak ${facts.peakRssMb} MB under load, ${facts.afterRssMb} MB after (target ≤ 250 MB); settlement caught up ${facts.drainMs} ms after the last request`,
  );

  const threads = rows.filter((x) => x.r.connections === 32 && x.thread);
  if (threads.length > 0) {
    console.log(
      "\nat c=32, each proxy's event loop thread (median round): % of the time running, and runnable but waiting for a CPU the other processes held",
    );
    for (const { target, thread } of threads)
      console.log(
        `${target.padEnd(22)} running ${num(thread!.runPct, 0, 3)}%  waiting ${num(thread!.waitPct, 0, 3)}%`,
      );
  }

  console.log('\nCPU ms per request, by process (redis is shared with anything else using it):');
  console.log(`${'target'.padEnd(22)} ${'conns'.padStart(5)} ${groups.map((g) => g.padStart(10)).join(' ')}`);
  for (const { target, r, cpu } of rows)
    console.log(
      `${target.padEnd(22)} ${String(r.connections).padStart(5)} ${groups.map((g) => num((cpu[g] ?? 0) / Math.max(r.requests, 1), 3, 10)).join(' ')}`,
    );
  const gwRow = rows.find((x) => x.target.startsWith('gateway') && x.r.connections === 32);
  if (gwRow && pk32) printCeilings(gwRow, pk32.rps);
}

/**
 * What the gateway's run at c=32 could reach at most, from the CPU it used: the whole machine's
 * (every process of the run, the load generator and simulator too, share its cores) and its api
 * event loop's (one thread). The lower one is the bound no scheduling can lift; only less CPU per
 * request moves it.
 */
function printCeilings({ r, cpu, thread }: Row, portkeyRps: number): void {
  const cores = availableParallelism();
  const perRequest = Object.values(cpu).reduce((a, b) => a + b, 0) / Math.max(r.requests, 1);
  const machine = (cores * 1000) / perRequest;
  const times = (rps: number) => `${rps.toFixed(0)} req/s = ${(rps / portkeyRps).toFixed(2)}× portkey`;
  console.log(
    `
gateway at c=32: ${perRequest.toFixed(3)} ms of CPU per request across all processes; ${cores} cores busy all the time would serve at most ${times(machine)}`,
  );
  if (thread) {
    // The median round's thread share over its own requests: ms of event loop per request.
    const loopMs = ((thread.runPct / 100) * 1000) / r.rps;
    console.log(
      `  its api event loop ran ${loopMs.toFixed(3)} ms per request: alone on a core it would serve at most ${times(1000 / loopMs)}`,
    );
  }
}
