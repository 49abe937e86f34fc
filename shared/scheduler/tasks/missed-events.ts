import { emitBatchEvent } from '../../batches/finalize.js';
import type { Context } from '../../context.js';
import { findBatch } from '../../db/queries/batches.js';
import { deleteOutboxRows, findUnemittedEvents } from '../../db/queries/event-outbox.js';
import { findJob } from '../../db/queries/jobs.js';
import { emitJobEvent, hasJobEvent } from '../../jobs/finish.js';
import type { Queues } from '../../queues.js';

const FINAL_BATCH = new Set(['completed', 'failed', 'expired', 'cancelled']);

export interface MissedEventsOptions {
  /** How long after an end its own process has to emit the event. @default 60000 */
  graceMs?: number;
  /** Most events emitted per call. @default 500 */
  limit?: number;
}

/**
 * Emit the job and batch events whose end was recorded (event_outbox) but whose emit never came:
 * the process died between the commit and the emit, or the emit failed. Emitting is keyed by the
 * event, so meeting a late emit of the same event sends nothing twice. Returns how many were emitted.
 */
export async function emitMissedEvents(
  ctx: Context,
  queues: Queues,
  opts: MissedEventsOptions = {},
): Promise<number> {
  const cutoff = new Date(ctx.clock.now().getTime() - (opts.graceMs ?? 60_000));
  const ids = await findUnemittedEvents(ctx.sql, cutoff, opts.limit ?? 500);
  let emitted = 0;
  for (const id of ids) {
    try {
      if (await emitOne(ctx, queues, id)) emitted++;
      // Emitted (or nothing to report): the record goes, whoever the event reached.
      await deleteOutboxRows(ctx.sql, [id]);
    } catch (err) {
      ctx.logger.warn({ err, subjectId: id }, 'emitting a missed event failed; the next run retries it');
    }
  }
  if (emitted) ctx.logger.warn({ count: emitted }, 'emitted job and batch events their process had not');
  return emitted;
}

async function emitOne(ctx: Context, queues: Queues, id: string): Promise<boolean> {
  if (id.startsWith('job_')) {
    const job = await findJob(ctx.sql, id);
    if (!job || job.batch_id || !hasJobEvent(job)) return false;
    await emitJobEvent(ctx, queues, job);
    return true;
  }
  const batch = await findBatch(ctx.sql, id);
  if (!batch || !FINAL_BATCH.has(batch.status)) return false;
  await emitBatchEvent(ctx, queues, batch);
  return true;
}
