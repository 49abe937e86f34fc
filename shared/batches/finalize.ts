import type { Context } from '../context.js';
import type { TxSql } from '../db/client.js';
import { countLines, lineProgress, resultLines } from '../db/queries/batch-lines.js';
import {
  type BatchRow,
  closeBatch,
  type FinalBatchStatus,
  lockBatch,
  markBatchFinalizing,
} from '../db/queries/batches.js';
import { insertFile } from '../db/queries/files.js';
import { newId } from '../ids.js';
import type { Queues } from '../queues.js';
import { emitEvent } from '../webhooks/emit.js';
import { formatBatch } from './format.js';
import { batchFailure, buildResultFiles } from './results.js';

/**
 * Finalize a batch once no line is pending, queued or running: `finalizing` is committed first (so
 * it is visible, and a crash mid-way is finished by the next run), then the output and error files
 * and the final status are written in one transaction and the batch's webhook is sent. Safe to call
 * any number of times, from any process: the batch lock lets one caller do it.
 */
export async function finalizeIfIdle(ctx: Context, queues: Queues, batchId: string): Promise<void> {
  const ready = await ctx.sql.begin(async (tx) => {
    const batch = await lockBatch(tx, batchId, { skipLocked: false });
    if (!batch) return false;
    if (batch.status === 'finalizing') return true;
    if (batch.status !== 'in_progress' && batch.status !== 'cancelling') return false;
    const progress = await lineProgress(tx, batchId);
    if (progress.live > 0 || progress.pending) return false;
    await markBatchFinalizing(tx, batchId, ctx.clock.now());
    return true;
  });
  if (!ready) return;

  const closed = await ctx.sql.begin(async (tx) => {
    const batch = await lockBatch(tx, batchId, { skipLocked: false });
    return batch?.status === 'finalizing' ? writeResults(ctx, tx, batch) : null;
  });
  if (!closed) return;
  try {
    const counts = (await countLines(ctx.sql, [batchId])).get(batchId)!;
    await emitEvent(ctx, queues, {
      accountId: closed.account_id,
      type: `batch.${closed.status as FinalBatchStatus}`,
      data: formatBatch(closed, counts),
    });
  } catch (err) {
    // The batch's outcome is recorded; only its notification is lost.
    ctx.logger.error({ err, batchId }, 'emitting the batch webhook failed');
  }
}

/** Why the batch ended: cancelled, out of time, nothing worked, or done. */
function finalStatus(batch: BatchRow, failure: Record<string, unknown> | null): FinalBatchStatus {
  if (batch.cancelling_at) return 'cancelled';
  // Finalizing after the window closed means lines were still waiting or running when it did.
  if (batch.finalizing_at && batch.finalizing_at >= batch.expires_at) return 'expired';
  return failure ? 'failed' : 'completed';
}

async function writeResults(ctx: Context, tx: TxSql, batch: BatchRow): Promise<BatchRow> {
  const lines = await resultLines(tx, batch.id);
  const files = buildResultFiles(lines);
  const at = ctx.clock.now();
  const store = async (kind: 'output' | 'error', jsonl: string[]) => {
    if (jsonl.length === 0) return null;
    const file = await insertFile(tx, {
      id: newId('file'),
      accountId: batch.account_id,
      managementKeyId: batch.management_key_id,
      purpose: 'batch_output',
      filename: `${batch.id}_${kind}.jsonl`,
      content: Buffer.from(`${jsonl.join('\n')}\n`),
      lineCount: jsonl.length,
      createdAt: at,
    });
    return file.id;
  };
  const failure = batchFailure(lines);
  const status = finalStatus(batch, failure);
  return closeBatch(tx, batch.id, {
    status,
    at,
    outputFileId: await store('output', files.output),
    errorFileId: await store('error', files.errors),
    completed: lines.filter((l) => l.status === 'succeeded').length,
    failed: lines.filter((l) => l.status === 'failed').length,
    errors: status === 'failed' ? failure : null,
  });
}
