import type { Context } from '../context.js';
import { countLines } from '../db/queries/batch-lines.js';
import type { BatchRow } from '../db/queries/batches.js';

/** How often a running batch's progress is logged by one process. */
const PROGRESS_EVERY_MS = 10_000;
/** Batches remembered for that spacing; past it the memory starts over (a log line early, no more). */
const REMEMBERED = 10_000;
const lastLogged = new Map<string, number>();

/**
 * A batch's dispatcher ran: its progress (lines done so far) is logged at most every
 * PROGRESS_EVERY_MS per batch, so an operator sees a 50,000-line batch moving without a line of log
 * per line. Spaced by the wall clock: this is about log volume, not the batch's window.
 */
export async function logBatchProgress(ctx: Context, batchId: string, dispatched: number): Promise<void> {
  const now = Date.now();
  const last = lastLogged.get(batchId);
  // (An ended batch's is +Infinity: never again.)
  if (last !== undefined && now - last < PROGRESS_EVERY_MS) return;
  if (lastLogged.size >= REMEMBERED) lastLogged.clear();
  lastLogged.set(batchId, now);
  // A log line never fails the dispatcher run it reports on (its finalize would wait a run).
  try {
    const counts = (await countLines(ctx.sql, [batchId])).get(batchId)!;
    ctx.logger.info(
      { batchId, dispatched, total: counts.total, succeeded: counts.succeeded, failed: counts.failed },
      'batch progress',
    );
  } catch (err) {
    ctx.logger.warn({ err, batchId }, 'reading a batch’s progress for the log failed');
  }
}

/** A batch reached its final status: what it did and how long it took. */
export function logBatchEnded(ctx: Context, batch: BatchRow): void {
  // Remembered as never again (not forgotten): a dispatcher run that read the batch running just
  // before it ended would otherwise log its progress after this line.
  lastLogged.set(batch.id, Number.POSITIVE_INFINITY);
  const ms = ctx.clock.now().getTime() - batch.created_at.getTime();
  ctx.logger.info(
    {
      batchId: batch.id,
      accountId: batch.account_id,
      status: batch.status,
      total: batch.total,
      completed: batch.completed,
      failed: batch.failed,
      seconds: Math.round(ms / 1000),
    },
    'batch ended',
  );
}
