import type { Context } from '../context.js';
import { closeBatchWindow, lockBatch, overdueBatchIds } from '../db/queries/batches.js';
import type { Queues } from '../queues.js';
import { type EndedLine, endLines, releaseLines } from './end-lines.js';
import { finalizeIfIdle } from './finalize.js';

/**
 * Close a batch's completion window (now, if it was still open): lines not started expire and their
 * holds are voided; running lines finish and are billed; then the batch is finalized as `expired`
 * with whatever output it has. Called by the dispatcher once `expires_at` passes; exported for the
 * scheduler. A batch being cancelled is left to its cancellation.
 */
export async function expireBatch(ctx: Context, queues: Queues, batchId: string): Promise<void> {
  const ended = await ctx.sql.begin(async (tx): Promise<EndedLine[] | null> => {
    const batch = await lockBatch(tx, batchId, { skipLocked: false });
    if (!batch || (batch.status !== 'in_progress' && batch.status !== 'validating')) return null;
    const at = ctx.clock.now();
    // Finalization reads "the window closed before the batch was done" from expires_at.
    await closeBatchWindow(tx, batchId, at);
    return endLines(tx, batchId, 'expired', at);
  });
  if (ended) await releaseLines(ctx, queues, ended);
  await finalizeIfIdle(ctx, queues, batchId);
}

/**
 * For a scheduled sweep: expire batches whose window has closed. Each batch already has a delayed
 * run at its expiry; this covers a Redis that lost it. Returns how many were looked at.
 */
export async function expireOverdueBatches(ctx: Context, queues: Queues, limit = 100): Promise<number> {
  const ids = await overdueBatchIds(ctx.sql, ctx.clock.now(), limit);
  for (const id of ids) await expireBatch(ctx, queues, id);
  return ids.length;
}
