import type { Config } from '../config.js';
import type { Context } from '../context.js';
import { GroupCommit } from '../group-commit.js';
import type { Queues } from '../queues.js';

const enqueuers = new WeakMap<Queues, GroupCommit<string>>();

/**
 * BullMQ's own retries of an inference message (a group, or a job re-queued alone), for what is
 * not a node's failure (Postgres unreachable while starting it, say): each run skips the jobs that
 * already finished. A node's failures are counted per job, in its row (workers/inference.ts).
 */
export function inferenceMessageOptions(config: Config) {
  return {
    attempts: config.INFERENCE_ATTEMPTS,
    backoff: { type: 'exponential', delay: config.INFERENCE_BACKOFF_MS },
  };
}

/**
 * Queue an admitted job (or batch line) for a node. Jobs accepted while the last hand-off was in
 * flight go to Redis together as ONE BullMQ job carrying their ids: the queue's own cost (Redis
 * scripts, events, locks) is paid per group, not per job. Each job keeps its own retries (the
 * worker re-queues a failed one alone, with backoff), and its Postgres row is the record of its
 * state: a finished or cancelled job is skipped wherever its id turns up again. A job handed off
 * twice (a hand-off retried after Redis took it) is at worst run twice and billed once, since
 * settlement is idempotent per hold.
 */
export function enqueueInference(ctx: Context, queues: Queues, jobId: string): Promise<void> {
  let e = enqueuers.get(queues);
  if (!e) {
    const opts = inferenceMessageOptions(ctx.config);
    e = new GroupCommit((ids) => queues.add('inference', { jobIds: ids }, opts));
    enqueuers.set(queues, e);
  }
  return e.add(jobId);
}
