import { describe, expect, it } from 'vitest';
import { findJob } from '../../shared/db/queries/jobs.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { cancel } from '../../shared/jobs/cancel.js';
import { startWorkers } from '../../workers/index.js';
import { startBatch } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The owner cancels a job or a batch of any of its keys (POST /api/jobs/:id/cancel,
 * POST /api/batches/:id/cancel), as the key itself would. No node workers: what is queued stays queued.
 */
const stack = useTestStack({ workers: false });

const request = (content: string) => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  max_tokens: 20,
});

describe('the owner cancels', () => {
  it('a queued job: it is cancelled and its hold released; nobody else may', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const job = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('x') },
    });
    expect(job.status).toBe(202);
    expect((await call(stack.server.url, 'GET', '/api/account', { token: c.jwt })).body.held_ngonka).not.toBe(
      '0',
    );

    const path = `/api/jobs/${job.body.id}/cancel`;
    expect((await call(stack.server.url, 'POST', path, { token: other.jwt })).status).toBe(404);
    expect((await call(stack.server.url, 'POST', path, { token: c.childKey })).status).toBe(403);
    expect((await call(stack.server.url, 'POST', '/api/jobs/job_nope/cancel', { token: c.jwt })).status).toBe(
      404,
    );

    const cancelled = await call(stack.server.url, 'POST', path, { token: c.jwt });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: job.body.id, object: 'job', status: 'cancelled' });
    // Settlement voids the hold (a worker without an upstream runs settlement only).
    const stop = startWorkers(stack.env.ctx, {});
    try {
      await waitFor('hold released', async () => {
        const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
        return a.body.held_ngonka === '0' && a.body.balance_ngonka === '1000000000';
      });
    } finally {
      await stop();
    }
    // Its key sees the same; cancelling again changes nothing.
    const seen = await call(stack.server.url, 'GET', `/v1/jobs/${job.body.id}`, { token: c.childKey });
    expect(seen.body.status).toBe('cancelled');
    expect((await call(stack.server.url, 'POST', path, { token: c.jwt })).body.status).toBe('cancelled');
  });

  it('a job that ended between its read and its cancel: answered as it is now, not as it was read', async () => {
    // Two cancels at once (or a cancel as the worker finishes the job) both read the job queued; the
    // one that finds it already ended must not answer `queued`, which says it will still run.
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const job = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('x') },
    });
    const readQueued = await findJob(stack.env.ctx.sql, job.body.id);
    expect(readQueued?.status).toBe('queued');
    const path = `/api/jobs/${job.body.id}/cancel`;
    expect((await call(stack.server.url, 'POST', path, { token: c.jwt })).body.status).toBe('cancelled');

    const late = await cancel(stack.env.ctx, stack.deps.queues, readQueued!);
    expect(late.status).toBe('cancelled');
  });

  it('a batch: its lines not run are cancelled; its lines are not jobs to cancel alone', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const batchId = await startBatch(stack.server.url, c.childKey, 3);
    const [line] = await stack.env.ctx.sql<
      { id: string }[]
    >`select id from jobs where batch_id = ${batchId} limit 1`;
    expect(
      (await call(stack.server.url, 'POST', `/api/jobs/${line!.id}/cancel`, { token: c.jwt })).status,
    ).toBe(404);
    const path = `/api/batches/${batchId}/cancel`;
    expect((await call(stack.server.url, 'POST', path, { token: other.jwt })).status).toBe(404);

    const res = await call(stack.server.url, 'POST', path, { token: c.jwt });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: batchId, object: 'batch', management_key_id: c.mkId });
    const batch = await waitFor('the batch cancelled', async () => {
      const b = await call(stack.server.url, 'GET', `/v1/batches/${batchId}`, { token: c.childKey });
      return b.body.status === 'cancelled' ? b.body : null;
    });
    expect(batch.request_counts).toEqual({ total: 3, completed: 0, failed: 0 });
    const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(a.body).toMatchObject({ held_ngonka: '0', balance_ngonka: '1000000000' });
  });
});

describe('the owner reads one', () => {
  it('job and batch of any of its keys, as its lists show them; nobody else may', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const job = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: request('x') },
    });
    const batchId = await startBatch(stack.server.url, c.childKey, 1);
    const [line] = await stack.env.ctx.sql<{ id: string }[]>`select id from jobs where batch_id = ${batchId}`;

    for (const [path, listPath, id] of [
      [`/api/jobs/${job.body.id}`, '/api/jobs', job.body.id],
      [`/api/batches/${batchId}`, '/api/batches', batchId],
    ] as const) {
      const one = await call(stack.server.url, 'GET', path, { token: c.jwt });
      const list = await call(stack.server.url, 'GET', listPath, { token: c.jwt });
      expect(one.status).toBe(200);
      expect(one.body).toEqual(list.body.data.find((x: { id: string }) => x.id === id));
      expect((await call(stack.server.url, 'GET', path, { token: other.jwt })).status).toBe(404);
      expect((await call(stack.server.url, 'GET', path, { token: c.childKey })).status).toBe(403);
    }
    // A batch line is its batch's, not a job of the list.
    expect((await call(stack.server.url, 'GET', `/api/jobs/${line!.id}`, { token: c.jwt })).status).toBe(404);
  });
});
