import { type Job, Worker } from 'bullmq';
import { Batcher } from '../shared/batcher.js';
import type { Context } from '../shared/context.js';
import { type Settlement, type SettlementResult, settleHolds } from '../shared/ledger/settle.js';
import { bullPrefix, type Payload, parsePayload } from '../shared/queues.js';
import { redisOptionsFromUrl } from '../shared/redis/client.js';

export interface SettlementWorkerOptions {
  /** Jobs in flight at once; they are settled together in batches. @default 512 */
  concurrency?: number;
  /** Most holds per transaction. @default 500 */
  batchSize?: number;
  /** How long the first job of a batch waits for company. @default 5 */
  batchWaitMs?: number;
  /** Called with the settlement lag of each settled job, in ms (for metrics and benchmarks). */
  onSettled?: (lagMs: number, result: SettlementResult) => void;
}

/**
 * The settlement queue processor: books each resolved request to the ledger, many per transaction.
 * A failed batch is retried item by item so one bad hold cannot hold back the rest; BullMQ retries
 * what still fails, and settlement is idempotent per hold, so a retry never charges twice.
 */
export function startSettlementWorker(ctx: Context, opts: SettlementWorkerOptions = {}): Worker {
  const batcher = new Batcher<Settlement, SettlementResult | Error>(
    async (items) => {
      try {
        return await settleHolds(ctx, items);
      } catch (err) {
        ctx.logger.warn({ err, size: items.length }, 'settlement batch failed; settling one by one');
        return Promise.all(
          items.map((i) =>
            settleHolds(ctx, [i]).then(
              (r) => r[0]!,
              (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
            ),
          ),
        );
      }
    },
    opts.batchSize ?? 500,
    opts.batchWaitMs ?? 5,
  );

  const processor = async (job: Job<Payload<'settlement'>>) => {
    const p = parsePayload('settlement', job.data);
    const item: Settlement =
      p.outcome === 'post'
        ? {
            holdId: p.holdId,
            outcome: 'post',
            promptTokens: p.promptTokens,
            completionTokens: p.completionTokens,
          }
        : { holdId: p.holdId, outcome: 'void' };
    const result = await batcher.add(item);
    if (result instanceof Error) throw result;
    opts.onSettled?.(Date.now() - p.enqueuedAt, result);
    return { status: result.status, charged_ngonka: result.charged.toString() };
  };

  const worker = new Worker('settlement', processor, {
    connection: redisOptionsFromUrl(ctx.config.REDIS_URL),
    prefix: bullPrefix(ctx),
    concurrency: opts.concurrency ?? 512,
    autorun: true,
  });
  worker.on('failed', (job, err) =>
    ctx.logger.error({ err, holdId: job?.data.holdId, attempts: job?.attemptsMade }, 'settlement failed'),
  );
  worker.on('error', (err) => ctx.logger.error({ err }, 'settlement worker error'));
  return worker;
}
