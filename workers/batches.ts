import { type Job, Worker } from 'bullmq';
import { type DispatchOptions, dispatchBatch } from '../shared/batches/dispatch.js';
import type { Context } from '../shared/context.js';
import { bullPrefix, type Payload, parsePayload, type Queues } from '../shared/queues.js';
import { redisOptionsFromUrl } from '../shared/redis/client.js';
import { followWorker } from '../shared/redis/outage-log.js';
import type { Upstream } from '../shared/upstream.js';

export interface BatchWorkerOptions extends DispatchOptions {
  /** Batches looked at in parallel by one process (one batch is never run twice at once). @default 4 */
  concurrency?: number;
}

/**
 * The batches queue processor: one dispatcher run per job (see dispatchBatch). The lines themselves
 * run on the inference queue; this only admits, expires and finalizes.
 */
export function startBatchWorker(
  ctx: Context,
  deps: { upstream: Upstream; queues: Queues },
  opts: BatchWorkerOptions = {},
): Worker {
  const processor = async (job: Job<Payload<'batches'>>) => {
    const { batchId } = parsePayload('batches', job.data);
    return dispatchBatch(ctx, deps, batchId, { maxInFlight: opts.maxInFlight });
  };
  const worker = new Worker('batches', processor, {
    connection: redisOptionsFromUrl(ctx.config.REDIS_URL),
    prefix: bullPrefix(ctx),
    concurrency: opts.concurrency ?? 4,
  });
  followWorker(worker, ctx.logger, 'batch');
  worker.on('failed', (job, err) => ctx.logger.warn({ err, batchId: job?.data.batchId }, 'batch run failed'));
  return worker;
}
