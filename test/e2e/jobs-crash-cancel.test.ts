import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { startWorkers } from '../../workers/index.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { expectBilledCancelled, submitJob, waitForHandOff } from '../helpers/jobs.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { spawnWorkerProcess, stopProcess } from '../helpers/worker-process.js';

// No in-process workers: each test brings the workers it needs.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    workers: false,
    env: { INFERENCE_LOCK_MS: '1500', INFERENCE_ATTEMPTS: '3', INFERENCE_BACKOFF_MS: '50' },
  });
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

/**
 * A customer's job with `content`, run by every worker until its node call shows it running, then
 * cancelled by its key; `meanwhile` runs before the workers stop. Returns the customer and job id.
 */
async function cancelWhileRunning(
  content: string,
  meanwhile: (c: Customer, jobId: string, cancelled: Record<string, unknown>) => Promise<void>,
): Promise<{ c: Customer; jobId: string }> {
  const c = await createCustomer(stack.env.ctx, stack.server.url);
  const res = await call(stack.server.url, 'POST', '/v1/jobs', {
    token: c.childKey,
    body: { request: request(content) },
  });
  const stop = startWorkers(stack.env.ctx, stack.deps);
  try {
    await waitFor('job running', async () => (await jobRow(res.body.id))?.status === 'running');
    const cancelled = await call(stack.server.url, 'POST', `/v1/jobs/${res.body.id}/cancel`, {
      token: c.childKey,
    });
    await meanwhile(c, res.body.id, cancelled.body);
  } finally {
    await stop();
  }
  return { c, jobId: res.body.id };
}

describe('jobs through crashes and cancellation', () => {
  it('cancels a queued job: it never runs and its hold is released', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('later') },
    });
    await waitForHandOff(stack.deps.queues, [res.body.id]); // so its message is there to be skipped
    const held = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(held.body.held_ngonka).not.toBe('0');
    const cancelled = await call(stack.server.url, 'POST', `/v1/jobs/${res.body.id}/cancel`, {
      token: c.childKey,
    });
    expect(cancelled.body.status).toBe('cancelled');
    // Released before the answer, with no settlement worker running yet.
    const after = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(after.body).toMatchObject({ held_ngonka: '0', balance_ngonka: '1000000000' });
    const served = stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0);
    // Every worker now, inference too: the cancelled job's message is still queued, and skipped.
    const stop = startWorkers(stack.env.ctx, stack.deps);
    try {
      await waitFor('hold released', async () => {
        const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
        return a.body.held_ngonka === '0' && a.body.balance_ngonka === '1000000000';
      });
      await waitFor(
        'inference queue drained',
        async () => (await stack.deps.queues.get('inference').getJobCountByTypes('wait', 'active')) === 0,
      );
    } finally {
      await stop();
    }
    expect(stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0)).toBe(served);
    expect(await jobRow(res.body.id)).toMatchObject({ status: 'cancelled', attempts: 0 });
  });

  it('gives the hold of a job cancelled while running back as soon as its call fails, without retrying it', async () => {
    const { c, jobId } = await cancelWhileRunning(
      'doomed [[sim latency=600 status=500]]',
      async (c, _id, cancelled) => {
        expect([cancelled.status, cancelled.cost_ngonka]).toEqual(['cancelled', null]);
        // Running, the hold is the worker's to settle; its attempt fails with attempts left, and
        // no attempt follows a cancel, so it is voided then (not by the sweeper, hours later).
        await waitFor('hold released', async () => {
          const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
          return a.body.held_ngonka === '0' && a.body.balance_ngonka === '1000000000';
        });
        await waitFor(
          'inference queue drained',
          async () =>
            (await stack.deps.queues.get('inference').getJobCountByTypes('wait', 'active', 'delayed')) === 0,
        );
      },
    );
    expect(await jobRow(jobId)).toMatchObject({ status: 'cancelled', attempts: 1 });
    // Nothing served, so nothing billed: once its hold is voided the job says so.
    const job = await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey });
    expect([job.body.status, job.body.cost_ngonka, job.body.usage]).toEqual(['cancelled', '0', null]);
  });

  it('bills a job cancelled while its node call ran, and the job says what that cost', async () => {
    const { c, jobId } = await cancelWhileRunning(
      'finish anyway [[sim latency=800]]',
      async (c, id, cancelled) => {
        // Its bill is not known yet: no cost, rather than a "0" that later changes.
        expect([cancelled.status, cancelled.cost_ngonka]).toEqual(['cancelled', null]);
        await waitFor('job billed', async () => {
          const job = await call(stack.server.url, 'GET', `/v1/jobs/${id}`, { token: c.childKey });
          return job.body.cost_ngonka !== null;
        });
      },
    );
    // What the job says it cost is what left the balance, and nothing is held any more.
    await expectBilledCancelled(stack, c, jobId);
  });

  it('runs a group of jobs from one message, retrying the failing one alone until it fails visibly', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const submit = (content: string) => submitJob(stack.server.url, c.childKey, request(content));
    const good = [await submit('one'), await submit('two')];
    const bad = await submit('three [[sim status=500]]');
    // However the api grouped them, here they travel as one message.
    const queue = stack.deps.queues.get('inference');
    await waitForHandOff(stack.deps.queues, [...good, bad]);
    await queue.drain(true);
    await stack.deps.queues.add('inference', { jobIds: [good[0]!, bad, good[1]!] });

    const stop = startWorkers(stack.env.ctx, stack.deps);
    try {
      for (const id of good)
        await waitFor(`job ${id} succeeded`, async () => (await jobRow(id))?.status === 'succeeded');
      await waitFor('bad job failed', async () => (await jobRow(bad))?.status === 'failed');
      await waitFor('settled', async () => {
        const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
        return a.body.held_ngonka === '0';
      });
    } finally {
      await stop();
    }
    expect(await jobRow(bad)).toMatchObject({ attempts: Number(stack.env.ctx.config.INFERENCE_ATTEMPTS) });
    for (const id of good) expect(await jobRow(id)).toMatchObject({ attempts: 1 });
    const billed = await stack.env.ctx.sql<{ ref: string }[]>`
      select h.request_id as ref from holds h join transfers t on t.kind = 'charge' and t.ref = h.charge_ref
      where h.request_id = any(${[...good, bad]}) order by h.request_id`;
    expect(billed.map((r) => r.ref)).toEqual([...good].sort());
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
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
      const charges = await stack.env.ctx.sql`
        select count(*)::int as n from holds h join transfers t on t.kind = 'charge' and t.ref = h.charge_ref
        where h.request_id = ${res.body.id} and h.status = 'posted' and h.posted_amount = ${job.body.cost_ngonka}`;
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
