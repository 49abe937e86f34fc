import type { Context } from '../context.js';
import { closeBatchWindow, overdueBatchIds } from '../db/queries/batches.js';
import type { Queues } from '../queues.js';
import { endBatch } from './end-lines.js';
import { finalizeIfIdle } from './finalize.js';

/**
 * Close a batch's completion window (now, if it was still open): lines not started expire and their
 * holds are voided; running lines finish and are billed; then the batch is finalized as `expired`
 * with whatever output it has. Called by the dispatcher once `expires_at` passes; exported for the
 * scheduler. A batch being cancelled ends as cancelled (endBatch): this only ends lines a crash left
 * waiting after its cancel was recorded.
 */
export async function expireBatch(ctx: Context, queues: Queues, batchId: string): Promise<void> {
  // Finalization reads "the window closed before the batch was done" from expires_at.
  await endBatch(ctx, queues, batchId, 'expired', (tx, at) => closeBatchWindow(tx, batchId, at));
  await finalizeIfIdle(ctx, queues, batchId);
}

/**
 * For a scheduled sweep: expire batches whose window has closed. Each batch already has a delayed
 * run at its expiry; this covers a Redis that lost it, and a cancel that crashed before it ended
 * its lines. Returns how many were looked at.
 */
export async function expireOverdueBatches(ctx: Context, queues: Queues, limit = 100): Promise<number> {
  const ids = await overdueBatchIds(ctx.sql, ctx.clock.now(), limit);
  for (const id of ids) await expireBatch(ctx, queues, id);
  return ids.length;
}
