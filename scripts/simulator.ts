import { z } from 'zod';
import { startSimulator } from '../shared/gonka/simulator/index.js';
import { createLogger } from '../shared/logger.js';

/**
 * `npm run simulator`: Gonka nodes on localhost for development and benchmarks.
 * SIM_NODES (2) nodes on consecutive ports from SIM_PORT (9100), auth SIM_AUTH (none|bearer|signed),
 * SIM_BEARER_TOKEN for bearer mode, SIM_LATENCY_MS before every answer, SIM_HOST (127.0.0.1).
 */
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(
    'usage: npm run simulator   (configured by the environment, no flags)\n' +
      '  SIM_NODES=2 SIM_PORT=9100 SIM_HOST=127.0.0.1 SIM_AUTH=none|bearer|signed SIM_BEARER_TOKEN=… SIM_LATENCY_MS=0\n' +
      '  faults per request: [[sim latency=MS status=429|500|503 cut=N delay=MS error=N]] in the last user message\n' +
      '  answers: text; a tool call when the request has tools; JSON for response_format (json_schema followed)',
  );
  process.exit(0);
}

const parsed = z
  .object({
    SIM_NODES: z.coerce.number().int().min(1).max(64).default(2),
    SIM_PORT: z.coerce.number().int().min(0).max(65535).default(9100),
    SIM_HOST: z.string().default('127.0.0.1'),
    SIM_AUTH: z.enum(['none', 'bearer', 'signed']).default('none'),
    SIM_BEARER_TOKEN: z.string().optional(),
    SIM_LATENCY_MS: z.coerce.number().int().min(0).default(0),
    LOG_LEVEL: z.string().default('info'),
  })
  .refine((e) => e.SIM_AUTH !== 'bearer' || e.SIM_BEARER_TOKEN, {
    message: 'required when SIM_AUTH=bearer',
    path: ['SIM_BEARER_TOKEN'],
  })
  .safeParse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== '')));
if (!parsed.success) {
  // One line per variable, as the gateway's own configuration errors: no stack.
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  console.error(`Invalid simulator configuration:\n${lines.join('\n')}`);
  process.exit(1);
}
const env = parsed.data;

const logger = createLogger(env.LOG_LEVEL, 'simulator');
const sim = await startSimulator({
  nodes: env.SIM_NODES,
  host: env.SIM_HOST,
  basePort: env.SIM_PORT,
  auth: env.SIM_AUTH,
  bearerToken: env.SIM_BEARER_TOKEN,
  latencyMs: env.SIM_LATENCY_MS,
  logger,
});
for (const n of sim.nodes) console.log(`${n.url}  ${n.address}`);
console.log(`GONKA_NODES=${sim.urls.join(',')}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping simulator');
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'simulator did not close cleanly');
        process.exit(1);
      },
    );
  });
}
