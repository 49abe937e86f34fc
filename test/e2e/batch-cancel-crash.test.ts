import { afterAll, describe, expect, it } from 'vitest';
import { expireOverdueBatches } from '../../shared/batches/expire.js';
import { markBatchCancelling } from '../../shared/db/queries/batches.js';
import { startWorkers } from '../../workers/index.js';
import { resultFileLines, startBatch } from '../helpers/batches.js';
import { expectNoLedgerDrift, settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A cancel is recorded (the batch says `cancelling`) before its lines end, in a transaction of its
 * own (see endBatch); a process that dies in between leaves lines waiting that nothing dispatches.
 * Cancelling again, its dispatcher's next run, or the expiry sweep once the window has closed, ends them.
 */
const stack = useTestStack({ workers: false });
let stopWorkers: () => Promise<void> = async () => {};
afterAll(() => stopWorkers());

describe('a cancel that crashed after recording it, before ending its lines', () => {
  it.each([
    ['a second cancel', 'cancel'],
    ['the expiry sweep', 'sweep'],
    // Its dispatcher's message, queued at creation, runs once workers start (as the
    // reconciliation's trigger would): it finishes the cancel rather than leave it a day.
    ['its dispatcher', 'dispatch'],
  ])('has them ended by %s', async (_, how) => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    // No worker has dispatched a line yet: the cancel is recorded, then the process "dies".
    const id = await startBatch(stack.server.url, c.childKey, 3);
    await markBatchCancelling(ctx.sql, id, ctx.clock.now());
    stopWorkers = startWorkers(ctx, { upstream: stack.deps.upstream, queues: stack.deps.queues });

    if (how === 'cancel') {
      const again = await call(stack.server.url, 'POST', `/v1/batches/${id}/cancel`, { token: c.childKey });
      expect(again.status).toBe(200);
    } else if (how === 'sweep') {
      await ctx.sql`update batches set expires_at = now() - interval '1 second' where id = ${id}`;
      expect(await expireOverdueBatches(ctx, stack.deps.queues)).toBe(1);
    }
    let batch: any;
    await waitFor('the batch ended', async () => {
      batch = (await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: c.childKey })).body;
      return batch.status === 'cancelled';
    });
    const errors = await resultFileLines(stack.server.url, c.childKey, batch.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.error.code])).toEqual([
      ['l0', 'batch_cancelled'],
      ['l1', 'batch_cancelled'],
      ['l2', 'batch_cancelled'],
    ]);
    await stopWorkers();
    await settled(ctx, c.accountId);
    await expectNoLedgerDrift(ctx);
  });
});
