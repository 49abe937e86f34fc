import type { Context } from '../context.js';
import type { TxSql } from '../db/client.js';
import { endWaitingLines } from '../db/queries/batch-lines.js';
import { findBatch, lockBatch } from '../db/queries/batches.js';
import { inFlightJobIds, releaseQueuedJob } from '../jobs/cancel.js';
import type { Queues } from '../queues.js';

export type EndReason = 'expired' | 'cancelled';

/** The `error` of an expired or cancelled line, as OpenAI writes it in the error file. */
export const END_ERRORS: Record<EndReason, { code: string; message: string }> = {
  expired: {
    code: 'batch_expired',
    message: 'This request could not be executed before the completion window expired.',
  },
  cancelled: { code: 'batch_cancelled', message: 'This request was cancelled with its batch.' },
};

/**
 * End a batch that is still running (cancel, expiry): under the batch lock, `mark` records why and
 * commits; then every line that has not started ends; then queued lines are released (see
 * releaseQueuedJob); running lines finish, are billed and land in the output file, as OpenAI's
 * in-flight requests do. A line still says `queued` during the first INFERENCE_RUNNING_MARK_MS of
 * its node call, so the lines whose messages workers hold are left to finish too: ending one would
 * bill the node's work and throw its answer away. That set is read after the mark commits, and a
 * worker reads its line's batch (batchEnding) after taking its message: so a worker either held
 * the message when the set was read (its line is left to it) or sees the end and never calls a
 * node. A batch that already ended is left as it is; one left `cancelling` by a crash before its
 * lines ended has them ended now (as cancelled, whatever ends it). The caller then offers the batch
 * to finalizeIfIdle.
 */
export async function endBatch(
  ctx: Context,
  queues: Queues,
  batchId: string,
  reason: EndReason,
  mark: (tx: TxSql, at: Date) => Promise<void>,
): Promise<void> {
  const why = await ctx.sql.begin(async (tx): Promise<EndReason | null> => {
    const batch = await lockBatch(tx, batchId, { skipLocked: false });
    if (batch?.status === 'cancelling') return 'cancelled';
    if (!batch || (batch.status !== 'in_progress' && batch.status !== 'validating')) return null;
    await mark(tx, ctx.clock.now());
    return reason;
  });
  if (!why) return;
  const running = await inFlightJobIds(queues);
  const ended = await ctx.sql.begin(async (tx) => {
    await lockBatch(tx, batchId, { skipLocked: false });
    return endWaitingLines(tx, batchId, why, END_ERRORS[why], ctx.clock.now(), [...running]);
  });
  // Pending lines had no hold and no message.
  const held = ended.filter((l): l is { id: string; hold_id: string } => l.hold_id !== null);
  const inFlight = held.length > 0 ? await inFlightJobIds(queues) : new Set<string>();
  for (let i = 0; i < held.length; i += 50) {
    await Promise.all(
      held.slice(i, i + 50).map((l) => releaseQueuedJob(ctx, queues, l.id, l.hold_id, { inFlight })),
    );
  }
}

/**
 * Why a line of this batch should not run (or run again), if it should not: its batch is being
 * cancelled, or its window has closed. (The lines an end left to finish are not retried after it.)
 */
export function batchEnding(
  batch: { cancelling_at: Date | null; expires_at: Date | null },
  now: Date,
): EndReason | null {
  if (batch.cancelling_at) return 'cancelled';
  return batch.expires_at && now >= batch.expires_at ? 'expired' : null;
}

/** batchEnding, the batch read by id. */
export async function batchEndingOf(ctx: Context, batchId: string): Promise<EndReason | null> {
  const batch = await findBatch(ctx.sql, batchId);
  return batch ? batchEnding(batch, ctx.clock.now()) : null;
}
