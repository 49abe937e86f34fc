import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { batchLineIds, liveJobIds, stillLiveJobIds } from '../db/queries/reconcile-jobs.js';
import { BATCH_LANE_PRIORITY, inferenceMessageOptions } from '../jobs/enqueue-inference.js';
import { inferenceJobIds, type Queues, queuePayloads } from '../queues.js';
import { pendingMessages } from './queued-jobs.js';
import type { DriftItem } from './types.js';

const LIMIT = 10_000;
const REQUEUE_GROUP = 64;

/** The job ids of every inference message still to run (waiting, delayed, active, ...). */
async function queuedJobIds(queues: Queues): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const job of pendingMessages(queues, 'inference')) {
    const p = queuePayloads.inference.safeParse(job.data);
    if (p.success) for (const id of inferenceJobIds(p.data)) ids.add(id);
  }
  return ids;
}

async function missingFromQueue(queues: Queues, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const queued = await queuedJobIds(queues);
  return ids.filter((id) => !queued.has(id));
}

/**
 * Every queued or running async job must have its message in the inference queue (its id in the
 * payload of a message still to run, alone or in a group); after Redis lost everything it does not, and nothing would run it
 * until the stale-hold sweeper failed it at its deadline. Seen twice `inflightMs` apart (a job is
 * committed a moment before it is enqueued); with `fix` the jobs are enqueued again in groups (a
 * second --fix is a no-op), which is harmless for one a worker finished meanwhile.
 */
export async function checkInferenceQueue(
  ctx: Context,
  queues: Queues,
  opts: { fix: boolean; inflightMs: number },
): Promise<{ drift: DriftItem[]; unconfirmed: number; fixed: number; jobs: number }> {
  const live = await liveJobIds(ctx.sql, LIMIT);
  let missing = await missingFromQueue(queues, live);
  const firstLook = missing.length;
  if (missing.length > 0) {
    if (opts.inflightMs > 0) await sleep(opts.inflightMs);
    missing = await missingFromQueue(queues, await stillLiveJobIds(ctx.sql, missing));
  }
  let fixed = 0;
  if (opts.fix) {
    // In groups, as admission queues them: a worker takes a few messages at a time, so a backlog
    // lost with Redis and re-queued one job a message would run a few jobs at a time. The id makes
    // a second --fix a no-op while the group waits. Batch lines go back to the slow lane (at its
    // first rank, as a retried line does), async jobs ahead of them.
    const lines = await batchLineIds(ctx.sql, missing);
    const lanes: [string[], number][] = [
      [missing.filter((id) => !lines.has(id)), 0],
      [missing.filter((id) => lines.has(id)), BATCH_LANE_PRIORITY],
    ];
    for (const [ids, priority] of lanes) {
      for (let i = 0; i < ids.length; i += REQUEUE_GROUP) {
        const jobIds = ids.slice(i, i + REQUEUE_GROUP);
        await queues.add(
          'inference',
          { jobIds },
          {
            jobId: `requeue.${jobIds[0]}.${jobIds.length}`,
            ...inferenceMessageOptions(ctx.config, priority),
          },
        );
        fixed += jobIds.length;
      }
    }
  }
  return {
    drift: missing.map((id) => ({
      check: 'inference_queue' as const,
      subject: `job ${id}`,
      message: 'queued or running job has no message in the inference queue',
    })),
    unconfirmed: firstLook - missing.length,
    fixed,
    jobs: live.length,
  };
}
