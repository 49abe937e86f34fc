import type { Context } from '../context.js';
import { type BatchRow, findBatch, lockBatch, markBatchCancelling } from '../db/queries/batches.js';
import type { Queues } from '../queues.js';
import { type EndedLine, endLines, releaseLines } from './end-lines.js';
import { finalizeIfIdle } from './finalize.js';

/**
 * POST /v1/batches/:id/cancel: the batch is `cancelling`; lines not started are cancelled (queued
 * ones lose their node job and their hold is voided); running lines finish and are billed, since
 * the node did the work; when none is left in flight the batch is finalized as `cancelled`.
 * Cancelling a batch that already ended is a no-op, like cancelling a finished job.
 */
export async function cancelBatch(ctx: Context, queues: Queues, batchId: string): Promise<BatchRow> {
  const ended = await ctx.sql.begin(async (tx): Promise<EndedLine[] | null> => {
    const batch = await lockBatch(tx, batchId, { skipLocked: false });
    if (!batch || (batch.status !== 'in_progress' && batch.status !== 'validating')) return null;
    const at = ctx.clock.now();
    await markBatchCancelling(tx, batchId, at);
    return endLines(tx, batchId, 'cancelled', at);
  });
  if (ended) await releaseLines(ctx, queues, ended);
  await finalizeIfIdle(ctx, queues, batchId);
  const batch = await findBatch(ctx.sql, batchId);
  if (!batch) throw new Error(`batch ${batchId} vanished`);
  return batch;
}
