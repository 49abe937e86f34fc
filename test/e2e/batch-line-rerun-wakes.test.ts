import type { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { triggerDispatch } from '../../shared/batches/trigger.js';
import type { JobRow } from '../../shared/db/queries/jobs.js';
import { enqueueInference } from '../../shared/jobs/enqueue-inference.js';
import { startBatchWorker } from '../../workers/batches.js';
import { startWorkers } from '../../workers/index.js';
import { startInferenceWorker } from '../../workers/inference.js';
import { startBatch } from '../helpers/batches.js';
import { expectNoLedgerDrift } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A worker that dies between a batch line's commit and waking the batch's dispatcher: the batch's
 * next lines wait for a wake-up no one sends. The line's message runs again after the crash (its
 * lock ran out), finds the line finished and skips it; that skip now wakes the batch, where before
 * only the reconcile check did, up to 10 minutes later.
 */
const stack = useTestStack({ workers: false, env: { BATCH_LINES_IN_FLIGHT: '1' } });
const started: Worker[] = [];
let stopWorkers: () => Promise<void> = async () => {};
afterAll(async () => {
  for (const w of started) await w.close();
  await stopWorkers();
});

describe("a batch line's wake-up lost in a crash", () => {
  it('is sent again when the line’s message runs again and finds it finished', async () => {
    const { ctx } = stack.env;
    const deps = stack.deps;
    stopWorkers = startWorkers(ctx, {}); // settlement and webhooks
    started.push(startBatchWorker(ctx, deps));
    // The first line's wake-up is lost, as if its worker died right after the line's commit.
    const woken: string[] = [];
    started.push(
      startInferenceWorker(ctx, deps, {
        onBatchLine: async (job: JobRow) => {
          woken.push(job.id);
          if (woken.length > 1) await triggerDispatch(deps.queues, job.batch_id!);
        },
      }),
    );
    const c = await createCustomer(ctx, stack.server.url);
    const id = await startBatch(stack.server.url, c.childKey, 2);
    const lines = () =>
      ctx.sql<{ id: string; status: string }[]>`
        select id, status from jobs where batch_id = ${id} order by custom_id`;
    await waitFor('the first line finished', async () => woken.length === 1);
    const [first, second] = await lines();
    expect([first?.status, second?.status]).toEqual(['succeeded', 'pending']);

    // Its message again, as BullMQ hands a dead worker's message to another.
    await enqueueInference(ctx, deps.queues, first!.id);
    let batch: any;
    await waitFor('the batch completed', async () => {
      batch = (await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: c.childKey })).body;
      return batch.status === 'completed';
    });
    expect(batch.request_counts).toMatchObject({ total: 2, completed: 2, failed: 0 });
    await expectNoLedgerDrift(ctx);
  });
});
