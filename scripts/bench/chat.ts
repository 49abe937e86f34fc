import { CHAT_BODY } from './chat-body.js';
import {
  byCommandLine,
  cpuUsed,
  machineBusyPercent,
  mainThreadTimes,
  snapshotCpu,
  threadShare,
} from './cpu.js';
import { createBenchCustomer, heldNgonka } from './gateway-key.js';
import { load, type Target } from './load.js';
import { type Child, freePort, rssMb, runBench, startChild, waitForHttp } from './processes.js';
import { medianRound, printReport, type Row } from './report.js';
import { type BenchStack, startStack } from './stack.js';

/**
 * `npm run bench:chat` (DESIGN.md "Performance targets"): sync chat, non-stream, measured in one run
 * (a) straight to the simulator, (b) through the gateway, (c) through the Portkey open-source gateway
 * as a pure proxy, (d) through a bare Node pass-through proxy (passthrough-proxy.ts: about the
 * ceiling of any Node gateway here), all on the same zero-latency simulator. Everything listens on 127.0.0.1 only and
 * runs in its own process; the load generator runs here. Needs Postgres and Redis (DATABASE_URL's
 * server, REDIS_URL): the gateway gets a fresh database and Redis prefix of its own (stack.ts).
 * At c=32 it also prints how each proxy's event loop thread spent the run: running, or runnable
 * and waiting for a CPU another process held (schedstat). On two cores shared with the load
 * generator, the simulator, Postgres and Redis, the gateway's api waits about a fifth of the time,
 * so its throughput is below 1 / (its CPU per request); giving it priority over the rest (renice
 * −10, tried) bought about 2%, since the rest then waits in its place: what bounds it is the CPU of
 * the whole stack per request, the api's and its Postgres', Redis's and workers' together.
 * BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the gateway process there (open it in Chrome
 * DevTools or speedscope) to see where its time goes; BENCH_NODE_FLAGS tries node flags on the
 * gateway processes (as in bench:jobs).
 */
const WARMUP_S = 5;
/** Interleaved rounds (BENCH_ROUNDS); each target's figures are its median round by req/s. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const C1_S = 6;
const C32_S = 8;

const started: Child[] = [];
let stack: BenchStack | undefined;

async function main(): Promise<void> {
  const busyBefore = await machineBusyPercent();
  // The workers run in a process of their own (as docker-compose runs them); BENCH_SPLIT_WORKERS=0
  // puts them in the api process, as `npm start` does.
  stack = await startStack({
    split: process.env.BENCH_SPLIT_WORKERS !== '0',
    ...(process.env.BENCH_CPU_PROF ? { cpuProfDir: process.env.BENCH_CPU_PROF } : {}),
    // Node flags for the gateway processes, to try one (e.g. `--max-semi-space-size=32`).
    ...(process.env.BENCH_NODE_FLAGS ? { nodeFlags: process.env.BENCH_NODE_FLAGS.split(/\s+/) } : {}),
  });
  const { sim, api: gateway, workers, simUrls, gatewayUrl, adminToken } = stack;
  const simUrl = simUrls[0]!;

  const portkeyPort = await freePort();
  const portkey = startChild(
    'portkey',
    [
      '--import',
      './scripts/bench/loopback-only.mjs',
      'node_modules/@portkey-ai/gateway/build/start-server.js',
      `--port=${portkeyPort}`,
      '--headless',
    ],
    { NODE_ENV: 'production' },
  );
  started.push(portkey);
  const portkeyUrl = `http://127.0.0.1:${portkeyPort}`;

  const passthrough = startChild('passthrough', ['--import', 'tsx', 'scripts/bench/passthrough-proxy.ts'], {
    PROXY_UPSTREAM: simUrl,
    PROXY_PORT: '0',
  });
  started.push(passthrough);
  const passthroughUrl = (await passthrough.waitForLine(/passthrough proxy on (\S+)/))[1]!;

  await waitForHttp(portkeyUrl);
  const customer = await createBenchCustomer(gatewayUrl, adminToken);

  // Each with the process that serves it (its event loop's time is reported at c=32).
  const targets: (Target & { pid: number })[] = [
    { name: 'simulator (direct)', url: `${simUrl}/v1/chat/completions`, headers: {}, pid: sim.pid },
    {
      name: 'portkey -> simulator',
      pid: portkey.pid,
      url: `${portkeyUrl}/v1/chat/completions`,
      headers: {
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `${simUrl}/v1`,
        authorization: 'Bearer sk-bench',
      },
    },
    {
      name: 'passthrough -> sim',
      url: `${passthroughUrl}/v1/chat/completions`,
      headers: {},
      pid: passthrough.pid,
    },
    {
      name: 'gateway -> simulator',
      pid: gateway.pid,
      url: `${gatewayUrl}/v1/chat/completions`,
      headers: { authorization: `Bearer ${customer.childKey}` },
    },
  ];
  for (const t of targets) await checkOnce(t);

  const groups = {
    loadgen: () => [process.pid],
    simulator: () => [sim.pid],
    portkey: () => [portkey.pid],
    passthrough: () => [passthrough.pid],
    gateway: () => [gateway.pid],
    ...(workers ? { workers: () => [workers.pid] } : {}),
    postgres: byCommandLine(new RegExp(`^postgres: .* ${stack.databaseName} `)),
    redis: byCommandLine(/^redis-server /),
  };
  let peakRssMb = 0;
  const sampler = setInterval(() => {
    peakRssMb = Math.max(peakRssMb, rssMb(gateway.pid));
  }, 500);
  const runs = new Map<string, Row[]>();
  try {
    for (const t of targets) {
      process.stderr.write(`warming up ${t.name}…\n`);
      await load(t, CHAT_BODY, 32, WARMUP_S); // long enough for each JIT to settle
    }
    // Round after round, every target in turn: on a shared machine whose speed drifts, each
    // target is measured across the same stretch of time, and the ratios compare like with like.
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`round ${round} of ${ROUNDS}…\n`);
      for (const t of targets)
        for (const [connections, seconds] of [
          [1, C1_S],
          [32, C32_S],
        ] as const) {
          const before = snapshotCpu(groups);
          const threadBefore = mainThreadTimes(t.pid);
          const r = await load(t, CHAT_BODY, connections, seconds);
          const thread = threadShare(threadBefore, mainThreadTimes(t.pid));
          const key = `${t.name}|${connections}`;
          runs.set(key, [
            ...(runs.get(key) ?? []),
            { target: t.name, r, cpu: cpuUsed(before, snapshotCpu(groups)), thread },
          ]);
        }
    }
  } finally {
    clearInterval(sampler);
  }
  const rows = [...runs.values()].map(medianRound);

  const drainStart = Date.now();
  while ((await heldNgonka(gatewayUrl, customer.jwt)) > 0n) {
    if (Date.now() - drainStart > 60_000) throw new Error('settlement did not catch up within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  printReport(rows, {
    warmupS: WARMUP_S,
    c1S: C1_S,
    c32S: C32_S,
    rounds: ROUNDS,
    peakRssMb,
    afterRssMb: rssMb(gateway.pid),
    drainMs: Date.now() - drainStart,
    busyBefore,
  });
}

/** One request per target before measuring: a proxy that is misconfigured must not be timed. */
async function checkOnce(t: Target): Promise<void> {
  const res = await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...t.headers },
    body: CHAT_BODY,
  });
  const json = (await res.json()) as { choices?: unknown[] };
  if (res.status !== 200 || !Array.isArray(json.choices))
    throw new Error(`${t.name}: ${res.status} ${JSON.stringify(json).slice(0, 500)}`);
}

async function cleanup(): Promise<void> {
  await Promise.allSettled(started.reverse().map((c) => c.stop()));
  await stack?.stop();
}

await runBench(main, cleanup);
