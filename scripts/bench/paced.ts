import { Agent, request } from 'node:http';
import type { LoadResult, Target } from './load.js';

/**
 * An open-loop load at a steady offered rate: requests leave on a fixed schedule whether or not
 * earlier ones were answered, and each latency is counted from the moment its request was due
 * (so a stall shows up in the tail instead of silently slowing the schedule). autocannon's
 * `overallRate` cannot measure this: each connection sends its per-second quota back to back at
 * the start of every second and then idles, which is a burst at full speed, not a rate.
 *
 * The first `warmupS` seconds run the same schedule uncounted: a client sending a steady rate
 * holds warm keep-alive connections, while a cold start opens one for nearly every request of
 * its first moments (each slower than the last, so more are opened), which measures the ramp,
 * not the rate. The schedule runs on without a pause into the counted part.
 */
export async function paced(
  target: Target,
  body: string,
  ratePerS: number,
  durationS: number,
  warmupS = 0,
): Promise<LoadResult> {
  const url = new URL(target.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const payload = Buffer.from(body);
  const headers = {
    'content-type': 'application/json',
    'content-length': String(payload.length),
    ...target.headers,
  };
  /** Each counted answer's due time (ms from the counted start) and latency. */
  const answered: { dueMs: number; ms: number }[] = [];
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  const failed = (kind: string) => {
    errors++;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };
  let inFlight = 0;
  const warmup = Math.round(ratePerS * warmupS);
  const total = warmup + Math.round(ratePerS * durationS);
  let sent = 0;
  const t0 = performance.now();
  const countedFrom = t0 + (warmup * 1000) / ratePerS;

  const fire = (dueAt: number, counted: boolean) => {
    inFlight++;
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, agent },
      (res) => {
        res.resume();
        res.on('end', () => {
          inFlight--;
          if (!counted) return;
          if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300)
            answered.push({ dueMs: dueAt - countedFrom, ms: performance.now() - dueAt });
          else failed(String(res.statusCode));
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      inFlight--;
      if (counted) failed(err.code ?? err.message);
    });
    req.end(payload);
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Request i is due at i / rate s: at t every request numbered ≤ t × rate is (the +1 counts
      // request 0, due at once; without it each request left one interval late, which counted
      // 1/rate of waiting that was the schedule's, not the gateway's).
      const due = Math.min(total, Math.floor(((now - t0) / 1000) * ratePerS) + 1);
      for (; sent < due; sent++) fire(t0 + (sent * 1000) / ratePerS, sent >= warmup);
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const deadline = performance.now() + 15_000;
  while (inFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (inFlight > 0) {
    errors += inFlight;
    errorKinds['no answer in 15 s'] = inFlight;
  }
  agent.destroy();

  const times = answered.map((a) => a.ms).sort((a, b) => a - b);
  const pick = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  return {
    connections: 0,
    requests: times.length,
    rps: times.length / durationS,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    errors,
    errorKinds,
    slowestByWindow: slowestByWindow(answered, pick(0.99)),
  };
}

/** How many answers at or over `p99Ms` were due in each 100 ms window, the busiest first. */
function slowestByWindow(answered: { dueMs: number; ms: number }[], p99Ms: number): [number, number][] {
  const windows = new Map<number, number>();
  for (const a of answered) {
    if (a.ms < p99Ms) continue;
    const w = Math.floor(a.dueMs / 100) * 100;
    windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  return [...windows].sort((a, b) => b[1] - a[1]);
}
