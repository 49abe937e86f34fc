import { afterAll, beforeAll, expect, it } from 'vitest';
import { findJob } from '../../shared/db/queries/jobs.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { cancel } from '../../shared/jobs/cancel.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { startWorkers } from '../../workers/index.js';
import { createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { queuedJob, submitJob, waitForNothingHeld } from '../helpers/jobs.js';
import { failingOnce } from '../helpers/script-hooks.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A job shows `running` only once its node call outlasts INFERENCE_RUNNING_MARK_MS (here: never
 * within the test). Cancelled in that window it still says `queued`, and API.md's "cancel a queued
 * job (hold released)" is what its client reads: the hold goes back before the answer and the job
 * costs nothing, although the node was working (the gateway bears that call, as it chose to show
 * the job queued).
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ workers: false, env: { INFERENCE_RUNNING_MARK_MS: '60000' } });
});
afterAll(async () => {
  await stack?.close();
});

it('releases the hold of a job cancelled while it still showed queued, though its node call ran, and never bills it', async () => {
  const c = await createCustomer(stack.env.ctx, stack.server.url);
  const sim = (stat: 'requests' | 'served' | 'abandoned') =>
    stack.sim.nodes.reduce((n, node) => n + node.stats[stat], 0);
  const before = sim('requests');
  const served = sim('served');
  const abandoned = sim('abandoned');
  const id = await submitJob(stack.server.url, c.childKey, {
    model: SIM_MODEL_QWQ_32B,
    messages: [{ role: 'user', content: 'slow [[sim latency=1500]]' }],
    max_tokens: 20,
  });
  const stop = startWorkers(stack.env.ctx, stack.deps);
  try {
    await waitFor('the node call under way', async () => sim('requests') > before);
    const shown = await call(stack.server.url, 'GET', `/v1/jobs/${id}`, { token: c.childKey });
    expect(shown.body.status).toBe('queued');
    const cancelled = await call(stack.server.url, 'POST', `/v1/jobs/${id}/cancel`, { token: c.childKey });
    expect([cancelled.body.status, cancelled.body.cost_ngonka]).toEqual(['cancelled', '0']);
    // Released before the answer.
    const after = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(after.body).toMatchObject({ held_ngonka: '0', balance_ngonka: '1000000000' });
    // The worker aborts its call: the node makes nothing nobody pays for.
    await waitFor('the node call abandoned', async () => sim('abandoned') > abandoned);
    await waitFor(
      'the worker done with it',
      async () => (await stack.deps.queues.get('inference').getJobCountByTypes('wait', 'active')) === 0,
    );
    expect(sim('served')).toBe(served);
  } finally {
    await stop();
  }
  const job = await call(stack.server.url, 'GET', `/v1/jobs/${id}`, { token: c.childKey });
  expect(job.body).toMatchObject({ status: 'cancelled', cost_ngonka: '0', result: null, usage: null });
  const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
  expect(account.body).toMatchObject({ held_ngonka: '0', balance_ngonka: '1000000000' });
  const [hold] = await stack.env.ctx
    .sql`select h.status from holds h join jobs j on j.hold_id = h.id where j.id = ${id}`;
  expect(hold!.status).toBe('voided');
  expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
});

it('gives back the hold of a job cancelled as a worker picked it up, when that worker then skips it', async () => {
  const { c, jobId: id } = await queuedJob(stack);
  // What a cancel leaves when a worker held the job's message (releaseQueuedJob): the row says
  // cancelled, the hold is the worker's to settle.
  await stack.env.ctx.sql`update jobs set status = 'cancelled', completed_at = now() where id = ${id}`;
  const stop = startWorkers(stack.env.ctx, stack.deps);
  try {
    await waitForNothingHeld(stack, c);
  } finally {
    await stop();
  }
  const [hold] = await stack.env.ctx
    .sql`select h.status from holds h join jobs j on j.hold_id = h.id where j.id = ${id}`;
  expect(hold!.status).toBe('voided');
});

it('answers a cancel that committed as cancelled when only its Redis release failed, which the check then finishes', async () => {
  const { c, jobId } = await queuedJob(stack);
  const ctx = stack.env.ctx;
  const releaseFails = failingOnce(ctx, 'releaseHolds');
  const cancelled = await cancel(releaseFails, stack.deps.queues, (await findJob(ctx.sql, jobId))!);
  expect(releaseFails.failed()).toBe(true);
  expect([cancelled.status, cancelled.cost_ngonka]).toEqual(['cancelled', 0n]);
  const [hold] =
    await ctx.sql`select h.status from holds h join jobs j on j.hold_id = h.id where j.id = ${jobId}`;
  expect(hold!.status).toBe('voided');
  await runReconcile(ctx, { finishSettlements: true });
  const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
  expect(account.body).toMatchObject({ held_ngonka: '0', available_ngonka: '1000000000' });
});
