import type { Queues } from '../queues.js';

/**
 * The BullMQ job id of attempt `attempt` of a delivery. One id per attempt, whoever enqueues it
 * (the emitter, the retry after a failed attempt, the sweeper), so enqueueing an attempt again while
 * its job is still queued adds nothing.
 */
export function attemptJobId(deliveryId: string, attempt: number): string {
  return attempt === 1 ? deliveryId : `${deliveryId}-${attempt}`;
}

/** Queue attempt `attempt` of a delivery; a no-op while that attempt's job is in the queue. */
export async function queueAttempt(
  queues: Queues,
  deliveryId: string,
  attempt: number,
  delayMs?: number,
): Promise<void> {
  const jobId = attemptJobId(deliveryId, attempt);
  await queues.add('webhooks', { deliveryId }, delayMs === undefined ? { jobId } : { jobId, delay: delayMs });
}
