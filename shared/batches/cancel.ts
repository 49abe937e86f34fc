import type { Context } from '../context.js';
import { type BatchRow, findBatch, markBatchCancelling } from '../db/queries/batches.js';
import type { Queues } from '../queues.js';
import { endBatch } from './end-lines.js';
import { finalizeIfIdle } from './finalize.js';

/**
 * POST /v1/batches/:id/cancel: the batch is `cancelling`; lines not started are cancelled (queued
 * ones lose their node job and their hold is voided); lines under way finish, are billed and land
 * in the output file (endBatch); when none is left in flight the batch is finalized as `cancelled`.
 * Cancelling a batch that already ended is a no-op, like cancelling a finished job.
 */
export async function cancelBatch(ctx: Context, queues: Queues, batchId: string): Promise<BatchRow> {
  await endBatch(ctx, queues, batchId, 'cancelled', (tx, at) => markBatchCancelling(tx, batchId, at));
  await finalizeIfIdle(ctx, queues, batchId);
  const batch = await findBatch(ctx.sql, batchId);
  if (!batch) throw new Error(`batch ${batchId} vanished`);
  return batch;
}
