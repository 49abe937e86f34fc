import { describe, expect, it } from 'vitest';
import { logBatchProgress } from '../../shared/batches/progress-log.js';
import { startBatch } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { capturedLogger } from '../helpers/logs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// Two lines in flight: the dispatcher runs many times for one batch, and its progress is still
// logged once per 10 s, not once per run.
const { logger, lines } = capturedLogger();
const stack = useTestStack({ env: { BATCH_LINES_IN_FLIGHT: '2' }, logger });

describe('a batch in the logs', () => {
  it('says when it was created, how it is moving and how it ended', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const started = Date.now();
    const batchId = await startBatch(stack.server.url, c.childKey, 6);
    await waitFor('batch completed', async () => {
      const b = await call(stack.server.url, 'GET', `/v1/batches/${batchId}`, { token: c.childKey });
      return b.body.status === 'completed';
    });
    const of = (msg: string) => lines.filter((l) => l.msg === msg && l.batchId === batchId);
    expect(of('batch created')).toMatchObject([{ lines: 6, accountId: c.accountId }]);
    const progress = of('batch progress');
    // Once per 10 s of the batch's life, not once per dispatcher run: one on a quiet machine, one
    // more for each 10 s a busy one (the whole suite in CI) made it last.
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.length).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 10_000));
    expect(progress[0]).toMatchObject({ total: 6, dispatched: expect.any(Number) });
    expect(of('batch ended')).toMatchObject([
      { status: 'completed', total: 6, completed: 6, failed: 0, seconds: expect.any(Number) },
    ]);
  });

  it('says nothing of its progress once it ended, even from a run that read it running', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const batchId = await startBatch(stack.server.url, c.childKey, 1);
    await waitFor('batch ended in the log', async () =>
      lines.some((l) => l.msg === 'batch ended' && l.batchId === batchId),
    );
    // What a dispatcher run that locked the batch just before it was finalized does last.
    await logBatchProgress(stack.env.ctx, batchId, 0);
    const after = lines.slice(lines.findIndex((l) => l.msg === 'batch ended' && l.batchId === batchId));
    expect(after.filter((l) => l.msg === 'batch progress' && l.batchId === batchId)).toEqual([]);
  });
});
