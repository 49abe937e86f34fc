import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReconcile } from '../../shared/reconcile/index.js';
import { startWorkers } from '../../workers/index.js';
import { startBatch } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { flushPrefix } from '../helpers/scheduler.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// No workers at first: the batch's first dispatcher trigger waits in Redis when Redis loses it.
let stack: TestStack;
let stopWorkers = async () => {};
beforeAll(async () => {
  stack = await startTestStack({ env: { RECONCILE_INFLIGHT_MS: '50' }, workers: false });
});
afterAll(async () => {
  await stopWorkers();
  await stack?.close();
});

describe('reconciliation: a batch whose dispatcher trigger Redis lost', () => {
  it('is reported, triggered again by the periodic check, and then completes', async () => {
    const { ctx } = stack.env;
    const { queues, upstream } = stack.deps;
    const c = await createCustomer(ctx, stack.server.url, { balance: 1_000_000_000n });
    const batchId = await startBatch(stack.server.url, c.childKey, 3);
    expect((await runReconcile(ctx, { queues })).drift).toEqual([]); // its trigger is waiting

    await flushPrefix(ctx); // Redis restarted empty: the trigger (and the 24 h expiry run) gone
    const report = await runReconcile(ctx, { queues });
    expect(report.drift).toEqual([
      expect.objectContaining({ check: 'batch_dispatch', subject: `batch ${batchId}` }),
    ]);

    stopWorkers = startWorkers(ctx, { upstream, queues });
    // What the scheduler's check does: mend what is safe to mend.
    const mended = await runReconcile(ctx, { queues, requeueLost: true });
    expect(mended.fixed).toBe(1);
    await waitFor(
      'the batch completed',
      async () =>
        (await call(stack.server.url, 'GET', `/v1/batches/${batchId}`, { token: c.childKey })).body.status ===
        'completed',
      30_000,
    );
    const done = await call(stack.server.url, 'GET', `/v1/batches/${batchId}`, { token: c.childKey });
    expect(done.body.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    expect((await runReconcile(ctx, { queues })).drift).toEqual([]);
    expect(await ledgerDrift(ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });
});
