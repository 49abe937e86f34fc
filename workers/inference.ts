import { type Job, Worker } from 'bullmq';
import pLimit from 'p-limit';
import { allFinished } from '../shared/all-finished.js';
import type { Context } from '../shared/context.js';
import { findJob, type JobRow } from '../shared/db/queries/jobs.js';
import { listenForJobCancels } from '../shared/jobs/cancel.js';
import { afterJobFinished } from '../shared/jobs/finish.js';
import { JobEndings, STALLED_OUT } from '../shared/jobs/job-endings.js';
import { JobRunner } from '../shared/jobs/job-runner.js';
import {
  bullPrefix,
  inferenceJobIds,
  type Payload,
  parsePayload,
  type Queues,
  queuePayloads,
} from '../shared/queues.js';
import { redisOptionsFromUrl } from '../shared/redis/client.js';
import { followWorker } from '../shared/redis/outage-log.js';
import type { Upstream } from '../shared/upstream.js';

export interface InferenceWorkerOptions {
  /** Jobs running at once per worker process (node calls in flight). @default config INFERENCE_CONCURRENCY */
  concurrency?: number;
  /** Called when a batch line ends (the batch dispatcher's progress hook). */
  onBatchLine?: (job: JobRow) => Promise<void>;
}

/**
 * The inference queue processor: runs admitted jobs on Gonka nodes, a group per BullMQ job (see
 * enqueueInference), each job by shared/jobs/job-runner.ts (a node call, retries with backoff, the
 * answer stored, settlement handed the usage) and ended otherwise by shared/jobs/job-endings.ts.
 * Stalled groups re-run after a crash; a group BullMQ gives up on still ends its jobs visibly.
 */
export function startInferenceWorker(
  ctx: Context,
  deps: { upstream: Upstream; queues: Queues },
  opts: InferenceWorkerOptions = {},
): Worker {
  const finished = (job: JobRow) =>
    afterJobFinished(ctx, deps.queues, job, { onBatchLine: opts.onBatchLine });
  const endings = new JobEndings(ctx, deps.queues, finished);
  const runner = new JobRunner(ctx, deps, endings, finished);
  // A job cancelled while it still showed queued is not billed (cancel.ts), so its node call is
  // aborted rather than left to run for nothing.
  const cancels = listenForJobCancels(ctx, (jobId) => runner.calls.get(jobId)?.abort());

  // A group's jobs run side by side; every one ends before the group does, so a group retried
  // after an error (see enqueueInference) never overlaps a run of itself still in flight.
  // Jobs, not groups, are what load a node and Postgres: every job of every group in hand waits
  // for one of `concurrency` slots (and stays queued until it has one).
  const concurrency = opts.concurrency ?? ctx.config.INFERENCE_CONCURRENCY;
  const slot = pLimit(concurrency);
  const processor = async (bull: Job<Payload<'inference'>>) => {
    const ids = inferenceJobIds(parsePayload('inference', bull.data));
    const outcomes = await allFinished(ids.map((id) => slot(() => runner.run(id))));
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
    return counts;
  };

  const worker = new Worker('inference', processor, {
    connection: redisOptionsFromUrl(ctx.config.REDIS_URL),
    prefix: bullPrefix(ctx),
    // Enough groups in hand to keep every slot busy while the next ones are fetched.
    concurrency: Math.max(1, Math.ceil(concurrency / 16)),
    // A worker that dies mid-call loses its lock after INFERENCE_LOCK_MS; the stalled check then
    // hands the job to another worker (twice at most, then it fails visibly).
    lockDuration: ctx.config.INFERENCE_LOCK_MS,
    stalledInterval: ctx.config.INFERENCE_LOCK_MS,
    maxStalledCount: 2,
  });
  // A job BullMQ gave up on without our processor deciding must still end visibly and release its
  // money: one that crashed on its last attempt, or one whose workers died mid-call more often than
  // maxStalledCount allows (BullMQ fails that with an UnrecoverableError on its next pick-up,
  // whatever attempts are left: a job that keeps killing workers is not tried forever).
  worker.on('failed', (bull, err) => {
    const noRetry = err?.name === 'UnrecoverableError'; // a stall past maxStalledCount, or a bad payload
    if (!bull) return;
    const parsed = queuePayloads.inference.safeParse(bull.data);
    const jobIds = parsed.success ? inferenceJobIds(parsed.data) : [];
    if (!noRetry && bull.attemptsMade < (bull.opts.attempts ?? 1)) {
      // Not a node's failure (those are counted per job, by JobRunner): Postgres out of reach, say.
      ctx.logger.warn(
        { err, jobIds, attempts: bull.attemptsMade },
        'inference run failed; it is tried again',
      );
      return;
    }
    if (!parsed.success) return;
    const cause = noRetry ? new Error(STALLED_OUT) : err; // a payload that parsed: a stall
    void (async () => {
      for (const id of jobIds) {
        const job = await findJob(ctx.sql, id);
        if (job && (job.status === 'queued' || job.status === 'running'))
          await endings.fail(job.id, job.hold_id, cause, job);
        else await endings.settleIfEnded(id); // its worker died holding an ended job's hold
      }
    })().catch((e: unknown) => ctx.logger.error({ err: e }, 'failing a dead job failed'));
  });
  followWorker(worker, ctx.logger, 'inference');
  worker.on('closed', () => cancels.close());
  return worker;
}
