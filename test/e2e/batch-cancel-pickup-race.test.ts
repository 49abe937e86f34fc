import type { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { endBatch } from '../../shared/batches/end-lines.js';
import { finalizeIfIdle } from '../../shared/batches/finalize.js';
import { triggerDispatch } from '../../shared/batches/trigger.js';
import { markBatchCancelling } from '../../shared/db/queries/batches.js';
import { startBatchWorker } from '../../workers/batches.js';
import { startWorkers } from '../../workers/index.js';
import { startInferenceWorker } from '../../workers/inference.js';
import { resultFileLines, startBatch } from '../helpers/batches.js';
import { expectNoLedgerDrift, settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A cancel racing a worker that takes up one of the batch's lines: the cancel is committed before
 * the lines workers hold are read, so a worker either read the line before it (its message is in
 * hand, and the line is left to finish into the output file) or reads the cancel and never calls
 * a node. Before, a worker could take the line up between that read and the cancel: the node
 * answered, the line was billed, and its answer was thrown away (the line said cancelled).
 */
const stack = useTestStack({ workers: false, env: { INFERENCE_RUNNING_MARK_MS: '60000' } });
const started: Worker[] = [];
let stopWorkers: () => Promise<void> = async () => {};
afterAll(async () => {
  for (const w of started) await w.close();
  await stopWorkers();
});

const served = () => stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0);

describe('a batch cancelled as a worker takes up its line', () => {
  it('lets the line finish into the output file, billed once for the answer it kept', async () => {
    const { ctx } = stack.env;
    const deps = stack.deps;
    stopWorkers = startWorkers(ctx, {}); // settlement and webhooks; inference starts mid-cancel
    started.push(startBatchWorker(ctx, deps));
    const c = await createCustomer(ctx, stack.server.url);
    const id = await startBatch(stack.server.url, c.childKey, 1, ' [[sim latency=500]]');
    await waitFor('the line is queued', async () => {
      const [l] = await ctx.sql<{ status: string }[]>`select status from jobs where batch_id = ${id}`;
      return l?.status === 'queued';
    });

    const before = served();
    await endBatch(ctx, deps.queues, id, 'cancelled', async (tx, at) => {
      await markBatchCancelling(tx, id, at);
      // A worker takes the line up now and its node call starts.
      started.push(
        startInferenceWorker(ctx, deps, {
          onBatchLine: (job) => triggerDispatch(deps.queues, job.batch_id!),
        }),
      );
      await waitFor('the node has the line', async () => served() > before);
    });
    await finalizeIfIdle(ctx, deps.queues, id);

    let batch: any;
    await waitFor('the batch ended', async () => {
      batch = (await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: c.childKey })).body;
      return batch.status === 'cancelled';
    });
    expect(batch.request_counts).toMatchObject({ total: 1, completed: 1, failed: 0 });
    const output = await resultFileLines(stack.server.url, c.childKey, batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(['l0']);
    const holds = await settled(ctx, c.accountId);
    expect(holds.map((h) => h.status)).toEqual(['posted']);
    await expectNoLedgerDrift(ctx);
  });
});
