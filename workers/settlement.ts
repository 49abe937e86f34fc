import { type Job, Worker } from 'bullmq';
import { Batcher } from '../shared/batcher.js';
import type { Context } from '../shared/context.js';
import { watchForWedge } from '../shared/db/wedge-watch.js';
import { type Settlement, type SettlementResult, settleHolds } from '../shared/ledger/settle.js';
import { bullPrefix, type Payload, parsePayload } from '../shared/queues.js';
import { redisOptionsFromUrl } from '../shared/redis/client.js';
import { errOrOutage, followWorker } from '../shared/redis/outage-log.js';

export interface SettlementWorkerOptions {
  /** Settlement jobs (groups of requests) in flight at once; their holds are booked together. @default 64 */
  concurrency?: number;
  /** Most holds per transaction. @default 500 */
  batchSize?: number;
  /** How long the first hold of a batch waits for company. @default SETTLEMENT_GROUP_WAIT_MS */
  batchWaitMs?: number;
  /** Called with the settlement lag of each settled hold, in ms (for metrics and benchmarks). */
  onSettled?: (lagMs: number, result: SettlementResult) => void;
  /**
   * Called once when a settlement transaction has run WEDGED_AFTER_LOCKS × SETTLEMENT_LOCK_MS (a
   * Postgres client stuck on a lost connection: shared/db/wedge-watch.ts). `npm start` ends the
   * process; without it, only logged.
   */
  onWedged?: () => void;
}

/**
 * A settlement batch is a few hundred row updates: one still running after this many lock
 * lifetimes (60 s by default) is stuck, not slow, and every settlement after it waits behind it.
 */
const WEDGED_AFTER_LOCKS = 6;

/**
 * The settlement queue processor: books resolved requests to the ledger, many per transaction. A
 * job carries a group of requests; the holds of every job in flight are batched together (one
 * transaction at a time, see Batcher). A failed batch is retried hold by hold so one bad hold
 * cannot hold back the rest; a job with a hold that still fails is retried by BullMQ, and
 * settlement is idempotent per hold, so a retry books only what is still open.
 */
export function startSettlementWorker(ctx: Context, opts: SettlementWorkerOptions = {}): Worker {
  const wedgedAfterMs = WEDGED_AFTER_LOCKS * ctx.config.SETTLEMENT_LOCK_MS;
  const batcher = new Batcher<Settlement, SettlementResult | Error>(
    async (items) => {
      let told = false;
      const onWedged = () => {
        if (told) return;
        told = true;
        ctx.logger.fatal(
          { size: items.length, afterMs: wedgedAfterMs },
          'a settlement transaction is stuck (a Postgres connection lost under it); nothing settles behind it',
        );
        opts.onWedged?.();
      };
      const settle = (batch: Settlement[]) => watchForWedge(settleHolds(ctx, batch), wedgedAfterMs, onWedged);
      try {
        return await settle(items);
      } catch (err) {
        ctx.logger.warn(
          { ...errOrOutage(ctx.redis, err), size: items.length },
          'settlement batch failed; settling one by one',
        );
        // One after another, each watched on its own: a retry after a failure is where a half-dead
        // connection sticks, and started all at once each one's watch would count its wait in line
        // (for the pool, for the system accounts' locks) as being stuck.
        const results: (SettlementResult | Error)[] = [];
        for (const i of items) {
          results.push(
            await settle([i]).then(
              (r) => r[0]!,
              (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
            ),
          );
        }
        return results;
      }
    },
    opts.batchSize ?? 500,
    opts.batchWaitMs ?? ctx.config.SETTLEMENT_GROUP_WAIT_MS,
  );

  const processor = async (job: Job<Payload<'settlement'>>) => {
    const p = parsePayload('settlement', job.data);
    const items = 'items' in p ? p.items : [withoutEnqueuedAt(p)];
    const results = await Promise.all(items.map((i) => batcher.add(i)));
    const lagMs = Date.now() - p.enqueuedAt;
    let failed: Error | null = null;
    const summary = { posted: 0, voided: 0, already: 0, charged_ngonka: 0n };
    for (const r of results) {
      if (r instanceof Error) {
        failed ??= r;
        continue;
      }
      opts.onSettled?.(lagMs, r);
      summary[r.status]++;
      summary.charged_ngonka += r.charged;
    }
    if (failed) throw failed;
    const charged_ngonka = summary.charged_ngonka.toString();
    const one = results[0] as SettlementResult;
    return 'items' in p ? { ...summary, charged_ngonka } : { status: one.status, charged_ngonka };
  };

  const worker = new Worker('settlement', processor, {
    connection: redisOptionsFromUrl(ctx.config.REDIS_URL),
    prefix: bullPrefix(ctx),
    concurrency: opts.concurrency ?? 64,
    autorun: true,
    lockDuration: ctx.config.SETTLEMENT_LOCK_MS,
    stalledInterval: ctx.config.SETTLEMENT_LOCK_MS,
    // Settling again is harmless (idempotent per hold), and failing it leaves its holds to be
    // voided unbilled: a group is handed on through several crashes before BullMQ gives up.
    maxStalledCount: 5,
  });
  // An attempt BullMQ will try again is a warning (Postgres restarting, say); the last one is an
  // error: its holds stay open for the stale-hold sweeper and reconciliation.
  worker.on('failed', (job, err) => {
    const last = !job || job.attemptsMade >= (job.opts.attempts ?? 1);
    const fields = { err, jobId: job?.id, attempts: job?.attemptsMade };
    if (last) ctx.logger.error(fields, 'settlement failed');
    else ctx.logger.warn(fields, 'settlement attempt failed; retrying');
  });
  followWorker(worker, ctx.logger, 'settlement');
  return worker;
}

function withoutEnqueuedAt(p: Settlement & { enqueuedAt: number }): Settlement {
  const { enqueuedAt: _, ...item } = p;
  return item;
}
