import type { Worker } from 'bullmq';
import { triggerDispatch } from '../shared/batches/trigger.js';
import type { Context } from '../shared/context.js';
import type { JobRow } from '../shared/db/queries/jobs.js';
import { type Queues, reachesRedis, startedOrLate } from '../shared/queues.js';
import type { Upstream } from '../shared/upstream.js';
import { type BatchWorkerOptions, startBatchWorker } from './batches.js';
import { type InferenceWorkerOptions, startInferenceWorker } from './inference.js';
import { type SettlementWorkerOptions, startSettlementWorker } from './settlement.js';
import { startWebhookWorker, type WebhookWorkerOptions } from './webhooks.js';

export interface WorkersOptions {
  /** Needed by the inference worker; without it (a settlement-only process) inference is not run. */
  upstream?: Upstream;
  queues?: Queues;
  inference?: InferenceWorkerOptions;
  batches?: BatchWorkerOptions;
  settlement?: SettlementWorkerOptions;
  webhooks?: WebhookWorkerOptions;
}

/** Start every queue processor of the workers role; the returned function drains and stops them. */
export function startWorkers(ctx: Context, opts: WorkersOptions = {}): () => Promise<void> {
  const workers: Worker[] = [
    startSettlementWorker(ctx, opts.settlement),
    startWebhookWorker(ctx, opts.webhooks),
  ];
  if (opts.upstream && opts.queues) {
    const deps = { upstream: opts.upstream, queues: opts.queues };
    // A finished batch line wakes its batch's dispatcher: a free slot, or maybe the last line.
    const onBatchLine = (job: JobRow) => triggerDispatch(deps.queues, job.batch_id!);
    workers.push(startInferenceWorker(ctx, deps, { onBatchLine, ...opts.inference }));
    workers.push(startBatchWorker(ctx, deps, opts.batches));
  }
  let stopping: Promise<void> | null = null;
  return () => {
    stopping ??= (async () => {
      await startedOrLate(workers);
      // close() waits for jobs in progress to finish: stop taking work, then drain. Not for a
      // worker cut off from Redis: BullMQ's graceful close waits for its fetch loop, which waits for
      // Redis, so shutdown would hang for the whole outage; and no job of it can be acknowledged
      // without Redis anyway. Its messages are taken up again once their locks expire (at least
      // once; settlement is idempotent per hold).
      for (const w of workers) {
        try {
          await w.close(!(await reachesRedis(w)));
        } catch (err) {
          ctx.logger.warn({ err, queue: w.name }, 'closing worker failed');
        }
      }
    })();
    return stopping;
  };
}
