import { CHAT_BODY } from './chat-body.js';
import { cpuUsed, snapshotCpu } from './cpu.js';
import { createBenchCustomer } from './gateway-key.js';
import { load, type Target } from './load.js';
import { type Child, rssMb, runBench } from './processes.js';
import { type BenchStack, startStack } from './stack.js';

/**
 * `npm run bench:ab -- NAME=BUNDLE[:FLAG,FLAG…] NAME=BUNDLE…`: sync chat at c=32 through two or
 * more gateways side by side, each its own stack (api, workers, simulator, database, Redis prefix),
 * in interleaved rounds (the order flips each round), printing each round and each variant's
 * median req/s, api CPU per request and peak api RSS. On a VM whose speed drifts by ±20% within
 * minutes, two bench:chat runs cannot tell a 5% change; rounds taken turn about can. A variant is
 * a bundle (copy dist/start.mjs aside before a change: `cp dist/start.mjs dist/before.mjs`, keep it
 * in dist/ so its assets resolve) and node flags after the default ones (scripts/node-flags.ts),
 * e.g. `npm run bench:ab -- before=dist/before.mjs after=dist/start.mjs` after `npm run build`, or
 * `npm run bench:ab -- default=dist/start.mjs:--max-semi-space-size=16 shipped=dist/start.mjs`.
 * AB_ROUNDS (8), AB_SECONDS (6), AB_CONNECTIONS (32).
 */
const ROUNDS = Number(process.env.AB_ROUNDS ?? 8);
const SECONDS = Number(process.env.AB_SECONDS ?? 6);
const CONNECTIONS = Number(process.env.AB_CONNECTIONS ?? 32);

interface Variant {
  name: string;
  api: Child;
  target: Target;
  rps: number[];
  cpuMsPerRequest: number[];
  peakRssMb: number;
}

const stacks: BenchStack[] = [];

function parseVariant(arg: string): { name: string; bundle: string; flags: string[] } {
  const eq = arg.indexOf('=');
  const [bundle, flags] = arg.slice(eq + 1).split(':');
  if (eq < 1 || !bundle) throw new Error(`expected NAME=BUNDLE[:FLAG,FLAG…], got ${arg}`);
  return { name: arg.slice(0, eq), bundle, flags: flags ? flags.split(',') : [] };
}

async function main(): Promise<void> {
  const specs = process.argv.slice(2).map(parseVariant);
  if (specs.length < 2) throw new Error('name two variants or more: NAME=BUNDLE[:FLAG,FLAG…]');
  const variants: Variant[] = [];
  for (const spec of specs) {
    const stack = await startStack({ split: true, bundle: spec.bundle, nodeFlags: spec.flags });
    stacks.push(stack);
    const customer = await createBenchCustomer(stack.gatewayUrl, stack.adminToken);
    const target = {
      name: spec.name,
      url: `${stack.gatewayUrl}/v1/chat/completions`,
      headers: { authorization: `Bearer ${customer.childKey}` },
    };
    variants.push({ name: spec.name, api: stack.api, target, rps: [], cpuMsPerRequest: [], peakRssMb: 0 });
  }
  for (const v of variants) await load(v.target, CHAT_BODY, CONNECTIONS, 5); // JIT warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of round % 2 ? [...variants].reverse() : variants) {
      const groups = { api: () => [v.api.pid] };
      const before = snapshotCpu(groups);
      const sampler = setInterval(() => {
        v.peakRssMb = Math.max(v.peakRssMb, rssMb(v.api.pid));
      }, 250);
      const r = await load(v.target, CHAT_BODY, CONNECTIONS, SECONDS);
      clearInterval(sampler);
      if (r.errors) throw new Error(`${v.name}: ${r.errors} errors in round ${round + 1}`);
      v.rps.push(r.rps);
      v.cpuMsPerRequest.push(cpuUsed(before, snapshotCpu(groups)).api! / r.requests);
    }
    const line = variants.map((v) => `${v.name} ${v.rps.at(-1)!.toFixed(0)} req/s`).join('  ');
    console.log(`round ${round + 1} of ${ROUNDS}: ${line}`);
  }
  console.log(`\nsync chat at c=${CONNECTIONS}, ${ROUNDS} interleaved rounds of ${SECONDS} s (medians)`);
  for (const v of variants)
    console.log(
      `${v.name.padEnd(16)} ${median(v.rps).toFixed(0).padStart(6)} req/s  ` +
        `api ${median(v.cpuMsPerRequest).toFixed(3)} ms CPU/request  peak RSS ${v.peakRssMb} MB`,
    );
  const [first, ...rest] = variants;
  for (const v of rest) {
    const wins = v.rps.filter((rps, i) => rps > first!.rps[i]!).length;
    console.log(`${v.name} beat ${first!.name} in ${wins} of ${ROUNDS} rounds`);
  }
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
}

await runBench(main, async () => {
  await Promise.allSettled(stacks.map((s) => s.stop()));
});
