import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { liveJobIds, stillLiveJobIds } from '../db/queries/reconcile-jobs.js';
import type { Queues } from '../queues.js';
import type { DriftItem } from './types.js';

const LIMIT = 10_000;
const CHUNK = 200;

async function missingFromQueue(queues: Queues, ids: string[]): Promise<string[]> {
  const queue = queues.get('inference');
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const jobs = await Promise.all(chunk.map((id) => queue.getJob(id)));
    jobs.forEach((j, k) => {
      if (!j) missing.push(chunk[k]!);
    });
  }
  return missing;
}

/**
 * Every queued or running async job must have its message in the inference queue (enqueued with
 * the job id as BullMQ job id); after Redis lost everything it does not, and nothing would run it
 * until the stale-hold sweeper failed it at its deadline. Seen twice `inflightMs` apart (a job is
 * committed a moment before it is enqueued); with `fix` the message is enqueued again, which is a
 * no-op for a job that has one (same job id) and harmless for one a worker already finished.
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
    for (const jobId of missing) {
      await queues.add('inference', { jobId }, { jobId });
      fixed++;
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
