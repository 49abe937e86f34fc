import type { Context } from '../context.js';
import type { TxSql } from '../db/client.js';
import { countLines, lineProgress, type ResultLine, resultLinesAfter } from '../db/queries/batch-lines.js';
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
import { emitFinalEvent } from '../webhooks/final-event.js';
import { expiresAfter } from './file-expiry.js';
import { FileChunkWriter } from './file-store.js';
import { formatBatch } from './format.js';
import { logBatchEnded } from './progress-log.js';
import { BatchOutcome, type ResultFileKind, resultLine } from './results.js';

/**
 * Finalize a batch once no line is pending, queued or running: `finalizing` is committed first (so
 * it is visible, and a crash mid-way is finished by the next run), then the output and error files
 * (streamed from the lines a page at a time, so a 50,000-line batch is never held whole) and the
 * final status (its event recorded with it) are written in one transaction and the batch's webhook
 * is sent. Safe to call any number of times, from any process: the batch lock lets one caller do it.
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
  logBatchEnded(ctx, closed);
  try {
    await emitBatchEvent(ctx, queues, closed);
  } catch (err) {
    // The batch's outcome and its event are recorded: the missed-events sweep emits it.
    ctx.logger.error({ err, batchId }, 'emitting the batch webhook failed');
  }
}

/** A batch that ended: its `batch.<status>` event, once. */
export async function emitBatchEvent(ctx: Context, queues: Queues, batch: BatchRow): Promise<void> {
  const counts = (await countLines(ctx.sql, [batch.id])).get(batch.id)!;
  const status = batch.status as FinalBatchStatus;
  await emitFinalEvent(ctx, queues, batch.id, {
    accountId: batch.account_id,
    type: `batch.${status}`,
    data: formatBatch(batch, counts),
    occurredAt: batch[`${status}_at`],
  });
}

/** Why the batch ended: cancelled, out of time, nothing worked, or done. */
function finalStatus(batch: BatchRow, failure: Record<string, unknown> | null): FinalBatchStatus {
  if (batch.cancelling_at) return 'cancelled';
  // Finalizing after the window closed means lines were still waiting or running when it did.
  if (batch.finalizing_at && batch.finalizing_at >= batch.expires_at) return 'expired';
  return failure ? 'failed' : 'completed';
}

/** Lines read per statement while the result files are written. */
const RESULT_PAGE = 1000;

/** Every line of a batch with its outcome, in input order, read a page at a time. */
async function* allResultLines(tx: TxSql, batchId: string): AsyncGenerator<ResultLine> {
  for (let after = 0; ; ) {
    const page = await resultLinesAfter(tx, batchId, after, RESULT_PAGE);
    yield* page;
    if (page.length < RESULT_PAGE) return;
    after = page.at(-1)!.line_no!; // a batch's lines all have one
  }
}

/** One result file of a batch, written as its lines come; none at all if it gets no line. */
function resultFile(tx: TxSql, batch: BatchRow, kind: ResultFileKind, at: Date) {
  const writer = new FileChunkWriter(tx, newId('file'));
  let lines = 0;
  return {
    add: (json: string) => {
      lines++;
      return writer.write(`${json}\n`);
    },
    store: async (): Promise<string | null> => {
      if (lines === 0) return null;
      const file = await insertFile(tx, {
        id: writer.fileId,
        accountId: batch.account_id,
        managementKeyId: batch.management_key_id,
        purpose: 'batch_output',
        filename: `${batch.id}_${kind}.jsonl`,
        bytes: await writer.end(),
        lineCount: lines,
        createdAt: at,
        expiresAt: expiresAfter(at, batch.output_expires_after_seconds),
      });
      return file.id;
    },
  };
}

async function writeResults(ctx: Context, tx: TxSql, batch: BatchRow): Promise<BatchRow> {
  const at = ctx.clock.now();
  const files = { output: resultFile(tx, batch, 'output', at), error: resultFile(tx, batch, 'error', at) };
  const outcome = new BatchOutcome();
  for await (const line of allResultLines(tx, batch.id)) {
    const { file, json } = resultLine(line);
    await files[file].add(json);
    outcome.add(line);
  }
  const failure = outcome.failure();
  const status = finalStatus(batch, failure);
  return closeBatch(tx, batch.id, {
    status,
    at,
    outputFileId: await files.output.store(),
    errorFileId: await files.error.store(),
    completed: outcome.completed,
    failed: outcome.failed,
    errors: status === 'failed' ? failure : null,
  });
}
