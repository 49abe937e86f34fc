import { DelayedError, type Job, type Processor, Worker, type WorkerOptions } from 'bullmq';
import type { Context } from '../shared/context.js';
import { bullPrefix, createQueues, type Payload, parsePayload, type Queues } from '../shared/queues.js';
import { redisOptionsFromUrl } from '../shared/redis/client.js';
import { followWorker } from '../shared/redis/outage-log.js';
import { AccountSlots } from '../shared/webhooks/account-slots.js';
import { queueAttempt } from '../shared/webhooks/attempt-job.js';
import {
  attemptDelivery,
  WEBHOOK_RETRY_SCHEDULE_MS,
  WEBHOOK_TIMEOUT_MS,
} from '../shared/webhooks/deliver.js';

export interface WebhookWorkerOptions {
  /** Delays in ms before attempts 2, 3, …; tests pass a fast one. @default WEBHOOK_RETRY_SCHEDULE_MS */
  schedule?: readonly number[];
  /** Per attempt, connect to response headers. @default 10000 */
  timeoutMs?: number;
  /** Deliveries in flight at once (mostly waiting on receivers). @default WEBHOOK_CONCURRENCY */
  concurrency?: number;
  /** Of those, for one account. @default WEBHOOK_ACCOUNT_CONCURRENCY */
  perAccount?: number;
}

/** A Worker that also owns the producer it re-queues retries with, and closes it after itself. */
class WebhookWorker extends Worker<Payload<'webhooks'>> {
  constructor(
    private readonly queues: Queues,
    processor: Processor<Payload<'webhooks'>>,
    opts: WorkerOptions,
  ) {
    super('webhooks', processor, opts);
  }

  override async close(force?: boolean): Promise<void> {
    try {
      await super.close(force);
    } finally {
      await this.queues.close();
    }
  }
}

/**
 * The webhooks queue processor: one job = one attempt of one delivery. BullMQ's own retries are
 * off (attempts 1) because the schedule spans a day; a retry is a new delayed job whose id names
 * the attempt it is for (attemptJobId), so a duplicate enqueue of the same retry is a no-op. A job
 * that comes before its attempt is due waits, delayed, until it is.
 */
export function startWebhookWorker(ctx: Context, opts: WebhookWorkerOptions = {}): Worker {
  const queues = createQueues(ctx);
  const policy = {
    schedule: opts.schedule ?? WEBHOOK_RETRY_SCHEDULE_MS,
    timeoutMs: opts.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
    slots: new AccountSlots(opts.perAccount ?? ctx.config.WEBHOOK_ACCOUNT_CONCURRENCY),
  };

  const processor = async (job: Job<Payload<'webhooks'>>, token?: string) => {
    const { deliveryId } = parsePayload('webhooks', job.data);
    const outcome = await attemptDelivery(ctx, deliveryId, policy);
    if (outcome.kind === 'retry')
      await queueAttempt(queues, deliveryId, outcome.attempt + 1, outcome.delayMs);
    if (outcome.kind === 'early') {
      // Wait under the same job id, so the sweeper's re-queue of this attempt still adds nothing.
      const delayMs = outcome.dueAt.getTime() - ctx.clock.now().getTime();
      await job.moveToDelayed(Date.now() + Math.max(delayMs, 0), token);
      throw new DelayedError();
    }
    return outcome;
  };

  const worker = new WebhookWorker(queues, processor, {
    connection: redisOptionsFromUrl(ctx.config.REDIS_URL),
    prefix: bullPrefix(ctx),
    concurrency: opts.concurrency ?? ctx.config.WEBHOOK_CONCURRENCY,
  });
  worker.on('failed', (job, err) =>
    ctx.logger.error({ err, deliveryId: job?.data.deliveryId }, 'webhook job failed; the sweeper retries it'),
  );
  followWorker(worker, ctx.logger, 'webhook');
  return worker;
}
