import type { AppDeps } from '../../api/app.js';
import {
  type Simulator,
  type StartSimulatorOptions,
  startSimulator,
} from '../../shared/gonka/simulator/index.js';
import { createQueues } from '../../shared/queues.js';
import { createUpstream } from '../../shared/upstream.js';
import { startWorkers, type WorkersOptions } from '../../workers/index.js';
import { createTestEnv, type TestEnv } from './context.js';
import { startTestServer, type TestServer } from './http.js';

export interface TestStack {
  env: TestEnv;
  sim: Simulator;
  server: TestServer;
  deps: AppDeps;
  close(): Promise<void>;
}

/**
 * The whole gateway on random ports: simulator nodes, the api, the workers, its own database and
 * Redis prefix. E2E tests talk to it over HTTP only.
 */
export async function startTestStack(
  opts: { env?: Record<string, string>; sim?: StartSimulatorOptions; workers?: WorkersOptions | false } = {},
): Promise<TestStack> {
  const sim = await startSimulator({ nodes: 2, ...opts.sim });
  const env = await createTestEnv({ env: opts.env });
  const upstream = await createUpstream(env.ctx, sim.urls);
  const queues = createQueues(env.ctx);
  const deps = { upstream, queues };
  const server = await startTestServer(env.ctx, deps);
  const stopWorkers =
    opts.workers === false ? async () => {} : startWorkers(env.ctx, { upstream, queues, ...opts.workers });
  return {
    env,
    sim,
    server,
    deps,
    async close() {
      await server.close();
      await stopWorkers();
      await queues.close();
      await upstream.close();
      await env.close();
      await sim.close();
    },
  };
}
