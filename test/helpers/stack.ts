import { afterAll, beforeAll } from 'vitest';
import type { AppDeps } from '../../api/app.js';
import {
  type Simulator,
  type StartSimulatorOptions,
  startSimulator,
} from '../../shared/gonka/simulator/index.js';
import type { Logger } from '../../shared/logger.js';
import { createQueues } from '../../shared/queues.js';
import { startInstanceHeartbeat } from '../../shared/redis/instance.js';
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
  opts: {
    env?: Record<string, string>;
    sim?: StartSimulatorOptions;
    workers?: WorkersOptions | false;
    logger?: Logger;
  } = {},
): Promise<TestStack> {
  const sim = await startSimulator({ nodes: 2, ...opts.sim });
  const env = await createTestEnv({ env: opts.env, logger: opts.logger });
  const upstream = await createUpstream(env.ctx, sim.urls);
  const queues = createQueues(env.ctx);
  const deps = { upstream, queues };
  const server = await startTestServer(env.ctx, deps);
  const stopWorkers =
    opts.workers === false ? async () => {} : startWorkers(env.ctx, { upstream, queues, ...opts.workers });
  // As a running gateway says it is alive (scripts/start.ts).
  const stopHeartbeat = startInstanceHeartbeat(env.ctx);
  return {
    env,
    sim,
    server,
    deps,
    async close() {
      stopHeartbeat();
      await server.close();
      await stopWorkers();
      await queues.close();
      await upstream.close();
      await env.close();
      await sim.close();
    },
  };
}

/**
 * The file's stack: started before its tests, closed after them. Its fields are read through to
 * the running stack, so use them inside tests and hooks, not at module level.
 */
export function useTestStack(opts: Parameters<typeof startTestStack>[0] = {}): TestStack {
  let stack: TestStack | undefined;
  beforeAll(async () => {
    stack = await startTestStack(opts);
  });
  afterAll(async () => {
    await stack?.close();
  });
  const running = (): TestStack => {
    if (!stack) throw new Error('the test stack is started in beforeAll');
    return stack;
  };
  return {
    get env() {
      return running().env;
    },
    get sim() {
      return running().sim;
    },
    get server() {
      return running().server;
    },
    get deps() {
      return running().deps;
    },
    close: () => running().close(),
  };
}

/**
 * The simulator's nodes healthy again, with zeroed stats, and the pool's circuit breakers fresh (so
 * node 0 is picked first): one test's injected failures must not open a breaker for the next.
 */
export function healthyNodes(stack: TestStack): void {
  for (const n of stack.sim.nodes) {
    n.setFaults({});
    n.resetStats();
  }
  const pool = stack.deps.upstream.pool;
  pool.setNodes([]);
  pool.setNodes(stack.sim.urls.map((url) => ({ url })));
}
