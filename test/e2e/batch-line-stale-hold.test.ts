import type { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepStaleHolds } from '../../shared/scheduler/tasks/stale-holds.js';
import { startBatchWorker } from '../../workers/batches.js';
import { startBatch } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A batch line whose hold reached its deadline before any worker ran it (workers down that long):
 * the sweeper ends it `failed`, with the stale hold's error, not `expired` as a job of its own
 * would be: a line's `expired` says its batch expired, and its error file would say so.
 */
const stack = useTestStack({ workers: false });
const started: Worker[] = [];
afterAll(async () => {
  for (const w of started) await w.close();
});

describe('a batch line past its hold’s deadline', () => {
  it('ends failed with request_timeout (stale_hold), its hold voided', async () => {
    const { ctx } = stack.env;
    started.push(startBatchWorker(ctx, stack.deps)); // lines are admitted; no inference worker runs them
    const c = await createCustomer(ctx, stack.server.url);
    const id = await startBatch(stack.server.url, c.childKey, 1);
    const line = async () =>
      (
        await ctx.sql<{ id: string; status: string; error: unknown; hold_id: string | null }[]>`
          select id, status, error, hold_id from jobs where batch_id = ${id}`
      )[0]!;
    await waitFor('the line admitted', async () => (await line()).status === 'queued');
    await ctx.sql`update holds set deadline = now() - interval '1 hour' where id = ${(await line()).hold_id}`;

    expect(await sweepStaleHolds(ctx, stack.deps.queues)).toMatchObject({ jobsEnded: 1, voided: 1 });
    expect(await line()).toMatchObject({
      status: 'failed',
      error: { type: 'request_timeout', code: 'stale_hold' },
    });
    const [hold] = await ctx.sql`select status from holds where id = ${(await line()).hold_id}`;
    expect(hold).toEqual({ status: 'voided' });
  });
});
