import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { startWorkers } from '../../workers/index.js';
import { createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { spawnWorkerProcess, stopProcess } from '../helpers/worker-process.js';

// No in-process workers: each test brings the workers it needs.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ workers: false, env: { INFERENCE_LOCK_MS: '1500' } });
});
afterAll(async () => {
  await stack?.close();
});

const request = (content: string) => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  max_tokens: 20,
});
const jobRow = async (id: string) =>
  (await stack.env.ctx.sql`select status, attempts from jobs where id = ${id}`)[0];

describe('jobs through crashes and cancellation', () => {
  it('cancels a queued job: it never runs and its hold is released', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('later') },
    });
    const held = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(held.body.held_ngonka).not.toBe('0');
    const cancelled = await call(stack.server.url, 'POST', `/v1/jobs/${res.body.id}/cancel`, {
      token: c.childKey,
    });
    expect(cancelled.body.status).toBe('cancelled');
    expect(await stack.deps.queues.get('inference').getJob(res.body.id)).toBeUndefined();
    const stop = startWorkers(stack.env.ctx); // settlement only
    try {
      await waitFor('hold released', async () => {
        const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
        return a.body.held_ngonka === '0' && a.body.balance_ngonka === '1000000000';
      });
    } finally {
      await stop();
    }
    expect((await jobRow(res.body.id))?.status).toBe('cancelled');
  });

  it('retries a job whose worker process was SIGKILLed mid-call and settles it exactly once', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = spawnWorkerProcess(stack.env, stack.sim.urls, { INFERENCE_LOCK_MS: '1500' });
    let second: ReturnType<typeof spawnWorkerProcess> | null = null;
    try {
      const res = await call(stack.server.url, 'POST', '/v1/jobs', {
        token: c.childKey,
        body: { request: request('slow [[sim latency=3000]]') },
      });
      await waitFor('job running', async () => (await jobRow(res.body.id))?.status === 'running', 20_000);
      await stopProcess(first, 'SIGKILL');
      second = spawnWorkerProcess(stack.env, stack.sim.urls, { INFERENCE_LOCK_MS: '1500' });
      await waitFor('job succeeded', async () => (await jobRow(res.body.id))?.status === 'succeeded', 25_000);
      expect((await jobRow(res.body.id))?.attempts).toBe(2);
      const job = await call(stack.server.url, 'GET', `/v1/jobs/${res.body.id}`, { token: c.childKey });
      await waitFor('settled', async () => {
        const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
        return a.body.held_ngonka === '0';
      });
      const charges = await stack.env.ctx
        .sql`select count(*)::int as n from transfers where kind = 'charge' and ref = ${res.body.id}`;
      expect(charges[0]?.n).toBe(1);
      const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
      expect(a.body.balance_ngonka).toBe(String(1_000_000_000 - Number(job.body.cost_ngonka)));
      expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
    } finally {
      await stopProcess(first, 'SIGKILL');
      if (second) await stopProcess(second);
    }
  }, 60_000);
});
