import type { Queues } from '../queues.js';

/**
 * Ask the dispatcher to look at a batch. At most one dispatch job per batch waits: BullMQ's
 * deduplication drops a trigger while one is waiting or delayed (that run will see the latest state
 * anyway), and `keepLastIfActive` keeps one for after a run in progress, so a line finishing
 * mid-run is never lost. Cancel and expiry do not go through here: they finalize inline.
 */
export async function triggerDispatch(
  queues: Queues,
  batchId: string,
  opts: { delayMs?: number } = {},
): Promise<void> {
  await queues.add(
    'batches',
    { batchId },
    { delay: opts.delayMs, deduplication: { id: batchId, keepLastIfActive: true } },
  );
}

/**
 * The run at the end of the completion window. Its own job id, outside the deduplication: a 24 h
 * delayed job there would swallow every trigger until it ran.
 */
export async function scheduleExpiry(queues: Queues, batchId: string, delayMs: number): Promise<void> {
  await queues.add('batches', { batchId }, { jobId: `${batchId}-expiry`, delay: Math.max(delayMs, 0) });
}
