import type { Config } from '../config.js';
import type { Context } from '../context.js';
import { GroupCommit } from '../group-commit.js';
import type { Queues } from '../queues.js';

/**
 * Which lane a job waits in. Batch lines are the slow lane, as in OpenAI's Batch API: their
 * messages carry a BullMQ priority, and a message without one (an async job) is always taken
 * first, so a customer's 50,000-line batch never stands between another customer's job and a node.
 * Each batch keeps BATCH_LINES_IN_FLIGHT lines queued at most, so the lane cannot pile up either.
 */
export type InferenceLane = 'jobs' | 'batch';

/** BullMQ priority of the batch lane (any value above 0 is behind every unprioritized message). */
export const BATCH_LANE_PRIORITY = 10;

const enqueuers = new WeakMap<Queues, Map<InferenceLane, GroupCommit<string>>>();

/**
 * BullMQ's own retries of an inference message (a group, or a job re-queued alone), for what is
 * not a node's failure (Postgres unreachable while starting it, say): each run skips the jobs that
 * already finished. A node's failures are counted per job, in its row (workers/inference.ts).
 * And the lane's priority.
 */
export function inferenceMessageOptions(config: Config, lane: InferenceLane) {
  return {
    attempts: config.INFERENCE_ATTEMPTS,
    backoff: { type: 'exponential', delay: config.INFERENCE_BACKOFF_MS },
    ...(lane === 'batch' ? { priority: BATCH_LANE_PRIORITY } : {}),
  };
}

/** The lane of a job by its row: a batch line's, or an async job's. */
export const laneOf = (job: { batch_id: string | null }): InferenceLane => (job.batch_id ? 'batch' : 'jobs');

/**
 * Queue an admitted job (or batch line) for a node. Jobs accepted while the last hand-off was in
 * flight go to Redis together as ONE BullMQ job carrying their ids: the queue's own cost (Redis
 * scripts, events, locks) is paid per group, not per job. Each job keeps its own retries (the
 * worker re-queues a failed one alone, with backoff), and its Postgres row is the record of its
 * state: a finished or cancelled job is skipped wherever its id turns up again. A job handed off
 * twice (a hand-off retried after Redis took it) is at worst run twice and billed once, since
 * settlement is idempotent per hold.
 */
export function enqueueInference(
  ctx: Context,
  queues: Queues,
  jobId: string,
  lane: InferenceLane = 'jobs',
): Promise<void> {
  let byLane = enqueuers.get(queues);
  if (!byLane) {
    byLane = new Map();
    enqueuers.set(queues, byLane);
  }
  let e = byLane.get(lane);
  if (!e) {
    const opts = inferenceMessageOptions(ctx.config, lane);
    e = new GroupCommit((ids) => queues.add('inference', { jobIds: ids }, opts));
    byLane.set(lane, e);
  }
  return e.add(jobId);
}
