import type { Config } from '../config.js';
import type { Context } from '../context.js';
import { GroupCommit } from '../group-commit.js';
import { perOwner } from '../per-owner.js';
import type { Queues } from '../queues.js';

/**
 * The order jobs reach a node in, as a BullMQ priority (0 first, then 1, 2, …; FIFO within one).
 * Async jobs carry none. Batch lines are the slow lane, as in OpenAI's Batch API: every message
 * without a priority is taken first, so a customer's 50,000-line batch never stands between another
 * customer's job and a node. Within the lane an account's lines wait behind those of accounts
 * running fewer batches (batchLinePriority): a customer with 50 batches cannot crowd out one with a
 * single batch, and gets whatever capacity that one leaves. Each batch keeps BATCH_LINES_IN_FLIGHT
 * lines queued at most, so the lane cannot pile up.
 */
export const BATCH_LANE_PRIORITY = 10;

/** Accounts with this many batches running or more share the lane's last rank. */
const BATCH_RANKS = 1000;

/** The priority of a batch line whose account is running `accountBatches` batches (its own included). */
export function batchLinePriority(accountBatches: number): number {
  return BATCH_LANE_PRIORITY + Math.min(Math.max(accountBatches - 1, 0), BATCH_RANKS - 1);
}

/**
 * A job retried alone after a node's failure: an async job none, a batch line the lane's first
 * rank (it was already admitted; its batch's other lines keep their rank).
 */
export const retryPriority = (job: { batch_id: string | null }): number =>
  job.batch_id ? BATCH_LANE_PRIORITY : 0;

const enqueuers = perOwner<Queues, number, GroupCommit<string>>();

/**
 * BullMQ's own retries of an inference message (a group, or a job re-queued alone), for what is
 * not a node's failure (Postgres unreachable while starting it, say): each run skips the jobs that
 * already finished. A node's failures are counted per job, in its row (workers/inference.ts).
 * And the message's priority (see BATCH_LANE_PRIORITY).
 */
export function inferenceMessageOptions(config: Config, priority = 0) {
  return {
    attempts: config.INFERENCE_ATTEMPTS,
    backoff: { type: 'exponential', delay: config.INFERENCE_BACKOFF_MS },
    ...(priority > 0 ? { priority } : {}),
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
export function enqueueInference(ctx: Context, queues: Queues, jobId: string, priority = 0): Promise<void> {
  // A group travels with one priority: each priority has its own.
  const e = enqueuers.get(queues, priority, () => {
    const opts = inferenceMessageOptions(ctx.config, priority);
    return new GroupCommit((ids: string[]) => queues.add('inference', { jobIds: ids }, opts));
  });
  return e.add(jobId);
}

/**
 * Hand off the jobs still waiting (shutdown: after the api stops serving, before the queues close):
 * an accepted job's 202 does not wait for its hand-off (submitJob).
 */
export async function drainInferenceHandoff(queues: Queues): Promise<void> {
  await Promise.all(enqueuers.all(queues).map((e) => e.drain()));
}
