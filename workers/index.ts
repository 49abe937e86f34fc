import type { Worker } from 'bullmq';
import type { Context } from '../shared/context.js';
import { type SettlementWorkerOptions, startSettlementWorker } from './settlement.js';

export interface WorkersOptions {
  settlement?: SettlementWorkerOptions;
}

/** Start every queue processor of the workers role; the returned function drains and stops them. */
export function startWorkers(ctx: Context, opts: WorkersOptions = {}): () => Promise<void> {
  const workers: Worker[] = [startSettlementWorker(ctx, opts.settlement)];
  let stopping: Promise<void> | null = null;
  return () => {
    stopping ??= (async () => {
      // close() waits for jobs in progress to finish: stop taking work, then drain.
      for (const w of workers) {
        try {
          await w.close();
        } catch (err) {
          ctx.logger.warn({ err, queue: w.name }, 'closing worker failed');
        }
      }
    })();
    return stopping;
  };
}
