import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { BATCH_LANE_PRIORITY } from '../../shared/jobs/enqueue-inference.js';
import { startBatch } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { waitForHandOff } from '../helpers/jobs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Batch lines wait in the slow lane: an async job submitted after a batch's lines were queued still
 * reaches a node before them, and an account running fewer batches goes first within the lane. One
 * node call at a time, so the order of completion is the order the worker took them in.
 */
const stack = useTestStack({
  env: { BATCH_LINES_IN_FLIGHT: '2' },
  workers: { inference: { concurrency: 1 } },
});

const body = (content: string) => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  max_tokens: 8,
});

const completedAt = async (where: { batchId?: string; jobId?: string }) =>
  stack.env.ctx.sql<{ id: string; status: string; completed_at: Date | null }[]>`
    select id, status, completed_at from jobs
    where ${where.batchId ? stack.env.ctx.sql`batch_id = ${where.batchId}` : stack.env.ctx.sql`id = ${where.jobId!}`}`;

/**
 * Wait until a batch's lines are queued and their messages are in the inference queue: a line says
 * `queued` when admitted, before its message is queued (shared/batches/dispatch-line.ts), and these
 * tests read the queue.
 */
const linesHandedOff = async (batchId: string) => {
  const lines = await waitFor(`${batchId} lines queued`, async () => {
    const rows = await completedAt({ batchId });
    return rows.length > 0 && rows.every((l) => l.status === 'queued') ? rows : null;
  });
  await waitForHandOff(
    stack.deps.queues,
    lines.map((l) => l.id),
  );
};

describe('the batch lane', () => {
  it('runs an async job submitted after a batch before the batch lines already queued', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const inference = stack.deps.queues.get('inference');
    await inference.pause();
    const batchId = await startBatch(stack.server.url, c.childKey, 2);
    await linesHandedOff(batchId);
    // Their message waits with the batch lane's priority.
    const [lineMessage] = await inference.getJobs(['prioritized']);
    expect(lineMessage?.opts.priority).toBe(BATCH_LANE_PRIORITY);

    const job = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: body('an async job') },
    });
    expect(job.status).toBe(202);
    await waitForHandOff(stack.deps.queues, [job.body.id]);
    await inference.resume();

    const lines = await waitFor('the batch lines done', async () => {
      const rows = await completedAt({ batchId });
      return rows.every((l) => l.status === 'succeeded') ? rows : null;
    });
    const [done] = await waitFor('the job done', async () => {
      const rows = await completedAt({ jobId: job.body.id });
      return rows[0]?.status === 'succeeded' ? rows : null;
    });
    for (const l of lines)
      expect(done!.completed_at!.getTime()).toBeLessThanOrEqual(l.completed_at!.getTime());
  });

  it('runs the lines of an account with one batch before those of an account with more', async () => {
    const busy = await createCustomer(stack.env.ctx, stack.server.url);
    const light = await createCustomer(stack.env.ctx, stack.server.url);
    const inference = stack.deps.queues.get('inference');
    await inference.pause();
    const queued = linesHandedOff;
    // The busy account's second batch is dispatched while its first runs: the lane's second rank.
    const first = await startBatch(stack.server.url, busy.childKey, 2);
    await queued(first);
    const second = await startBatch(stack.server.url, busy.childKey, 2);
    await queued(second);
    const single = await startBatch(stack.server.url, light.childKey, 2);
    await queued(single);
    const messages: Job[] = await inference.getJobs(['prioritized']);
    const priorityOf = async (batchId: string) => {
      const [line] = await completedAt({ batchId });
      return messages.find((m) => (m.data as { jobIds: string[] }).jobIds.includes(line!.id))?.opts.priority;
    };
    expect(await priorityOf(first)).toBe(BATCH_LANE_PRIORITY);
    expect(await priorityOf(second)).toBe(BATCH_LANE_PRIORITY + 1);
    expect(await priorityOf(single)).toBe(BATCH_LANE_PRIORITY);
    await inference.resume();

    const done = (batchId: string) =>
      waitFor(`${batchId} done`, async () => {
        const rows = await completedAt({ batchId });
        return rows.every((l) => l.status === 'succeeded')
          ? rows.map((l) => l.completed_at!.getTime())
          : null;
      });
    const [lightLines, secondLines] = [await done(single), await done(second)];
    // Submitted last, yet ahead of the busy account's second batch.
    expect(Math.max(...lightLines)).toBeLessThanOrEqual(Math.min(...secondLines));
  });
});
