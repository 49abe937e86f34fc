import autocannon from 'autocannon';

export interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}

export interface LoadResult {
  connections: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx answers plus connection errors and timeouts. */
  errors: number;
  /** What the errors were, where the load generator tells (paced.ts): a status, an error code, or no answer. */
  errorKinds?: Record<string, number>;
  /**
   * When the slowest 1% of requests were due (paced.ts): how many of them fell in each 100 ms of
   * the counted run (ms from its start → count), the busiest first. A tail spread thin is steady
   * queueing; a few full windows are stalls.
   */
  slowestByWindow?: [number, number][];
}

/**
 * One autocannon run against a target with a fixed JSON body. Latencies are taken from each
 * response's own timing (sub-millisecond floats): autocannon's histogram stores whole milliseconds,
 * which cannot show a 1 ms budget.
 */
export function load(
  target: Target,
  body: string,
  connections: number,
  durationS: number,
  /** Stop after this many requests instead (durationS is then only an upper bound). */
  amount?: number,
): Promise<LoadResult> {
  const times: number[] = [];
  let non2xx = 0;
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body,
        connections,
        ...(amount ? { amount } : { duration: durationS }),
        timeout: 10,
      },
      (err, result) => {
        if (err) return reject(err);
        times.sort((a, b) => a - b);
        const pick = (q: number) =>
          times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
        resolve({
          connections,
          requests: times.length,
          rps: times.length / (amount ? (performance.now() - startedAt) / 1000 : durationS),
          p50Ms: pick(0.5),
          p99Ms: pick(0.99),
          errors: non2xx + result.errors + result.timeouts,
        });
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) times.push(ms);
      else non2xx++;
    });
  });
}
