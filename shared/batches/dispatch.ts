import { allFinished } from '../all-finished.js';
import type { Context } from '../context.js';
import {
  batchHoldsSettling,
  failPendingLines,
  lineProgress,
  nextPendingLines,
} from '../db/queries/batch-lines.js';
import { type BatchRow, countRunningBatches, findBatch, lockBatch } from '../db/queries/batches.js';
import { errorBody } from '../errors.js';
import { batchLinePriority } from '../jobs/enqueue-inference.js';
import { releaseSettledOfAccount } from '../ledger/release.js';
import type { Queues } from '../queues.js';
import type { Upstream } from '../upstream.js';
import { admitLine, failLine, queueAdmittedLine } from './dispatch-line.js';
import { endBatch } from './end-lines.js';
import { expireBatch } from './expire.js';
import { finalizeIfIdle } from './finalize.js';
import { logBatchProgress } from './progress-log.js';
import { triggerDispatch } from './trigger.js';

/** How soon a run that found the batch locked by another tries again. */
const BUSY_RETRY_MS = 250;
/** How soon a run whose line was refused for money while its ended lines' holds settle tries again. */
const SETTLING_RETRY_MS = 250;

export interface DispatchOptions {
  /** @default config BATCH_LINES_IN_FLIGHT */
  maxInFlight?: number;
}

export type DispatchResult =
  | 'busy'
  | 'expired'
  | 'cancelling'
  | 'not running'
  | { dispatched: number; retryAfterMs: number | null };

type Deps = { upstream: Upstream; queues: Queues };

/**
 * One run of a batch's dispatcher (the `batches` queue processor; triggered at creation, whenever
 * a line ends, and at the end of the window). Under the batch lock it fills the free in-flight
 * slots with pending lines, each admitted as it is dispatched; then it finalizes the batch if
 * nothing is left. Idempotent and safe to run twice at once: a second run finds the lock taken and
 * comes back shortly instead of waiting.
 */
export async function dispatchBatch(
  ctx: Context,
  deps: Deps,
  batchId: string,
  opts: DispatchOptions = {},
): Promise<DispatchResult> {
  const maxInFlight = opts.maxInFlight ?? ctx.config.BATCH_LINES_IN_FLIGHT;
  const result = await ctx.sql.begin(async (tx): Promise<DispatchResult> => {
    const batch = await lockBatch(tx, batchId, { skipLocked: true });
    if (!batch) return 'busy'; // (or no such batch: the retry then finds nothing to do)
    if (batch.status === 'cancelling') return 'cancelling';
    // Validating, finalizing or ended: nothing to dispatch, and no progress to log (a line logged
    // after 'batch ended' would say it is still moving).
    if (batch.status !== 'in_progress') return 'not running';
    if (ctx.clock.now() >= batch.expires_at) return 'expired';
    const progress = await lineProgress(tx, batchId);
    const slots = maxInFlight - progress.live;
    if (slots <= 0 || !progress.pending) return { dispatched: 0, retryAfterMs: null };
    // Admission runs on other connections while this transaction holds the batch lock.
    return fillSlots(ctx, deps, batch, slots, progress.live);
  });

  if (result === 'busy') {
    if (await findBatch(ctx.sql, batchId))
      await triggerDispatch(deps.queues, batchId, { delayMs: BUSY_RETRY_MS });
    return result;
  }
  if (result === 'expired') {
    await expireBatch(ctx, deps.queues, batchId);
    return result;
  }
  if (result === 'cancelling') {
    // A cancel recorded whose lines were never ended (the api died, or Redis failed it, between
    // its two steps): nothing else would end them before the window closes, a day later. Any run
    // finishes it, the reconciliation's trigger included.
    await endBatch(ctx, deps.queues, batchId, 'cancelled', async () => {});
    await finalizeIfIdle(ctx, deps.queues, batchId);
    return result;
  }
  if (result === 'not running') {
    await finalizeIfIdle(ctx, deps.queues, batchId);
    return result;
  }
  if (result.retryAfterMs) await triggerDispatch(deps.queues, batchId, { delayMs: result.retryAfterMs });
  await logBatchProgress(ctx, batchId, result.dispatched);
  await finalizeIfIdle(ctx, deps.queues, batchId);
  return result;
}

/**
 * Dispatch pending lines in input order until `slots` of them are queued, at the rank of the
 * batch's account in the batch lane (see batchLinePriority), every free slot tried at once: each
 * line's admission commits on its own, and waiting for those commits one after another was most
 * of a batch's run time (~6 ms a line, 32 lines a run). A line refused for money while other lines
 * of the batch hold money (`live` in flight, or admitted in this run) waits, pending, and the run
 * stops: those lines' own holds may be what it lacks, and each that ends runs the dispatcher again
 * (a client sending the lines one by one would not have been refused), as may the holds of lines
 * that ended but are not settled yet, or settled in Postgres but not yet released in Redis (the run
 * comes back shortly). Refused with nothing of its batch in flight or settling, the refusal is
 * real: the line ends and the next one is tried (it may be cheaper). A rate limit pauses the batch
 * until the key has quota again; a refused key (disabled, expired, revoked) ends every line still
 * pending.
 */
async function fillSlots(
  ctx: Context,
  deps: Deps,
  batch: BatchRow,
  slots: number,
  live: number,
): Promise<{ dispatched: number; retryAfterMs: number | null }> {
  let dispatched = 0;
  let after = 0;
  // Finishing the account's releases reads every open hold of it (tens of thousands, for a busy
  // one): once a run, on its first refusal, is enough to know whether a refusal may not stand.
  let releasesFinished = false;
  const priority = batchLinePriority(await countRunningBatches(ctx.sql, batch.account_id));
  while (dispatched < slots) {
    const lines = await nextPendingLines(ctx.sql, batch.id, after, slots - dispatched);
    if (lines.length === 0) break;
    const before = after;
    after = lines.at(-1)!.line_no ?? after;
    const admissions = await Promise.allSettled(lines.map((line) => admitLine(ctx, deps, batch, line)));
    // Queued once all are admitted, in input order (see queueAdmittedLine); every admitted line
    // is, even if another's admission failed (its hold and status are committed), before the error.
    const outcomes = await allFinished(
      admissions.map((a) => {
        if (a.status === 'rejected') return Promise.reject(a.reason);
        return a.value.kind === 'admitted' ? queueAdmittedLine(ctx, deps.queues, a.value, priority) : a.value;
      }),
    );
    dispatched += outcomes.filter((o) => o.kind === 'queued').length;
    for (const o of outcomes) {
      if (o.kind === 'key_refused') {
        await failPendingLines(ctx.sql, batch.id, errorBody(o.error).error, ctx.clock.now());
        return { dispatched, retryAfterMs: null };
      }
    }
    const wait = outcomes.find((o) => o.kind === 'wait');
    if (wait) return { dispatched, retryAfterMs: wait.retryAfterMs };
    const refused = outcomes.flatMap((o, i) => (o.kind === 'money_refused' ? [{ o, line: lines[i]! }] : []));
    if (refused.length === 0) continue;
    if (live + dispatched > 0) return { dispatched, retryAfterMs: null };
    // A line's end comes before its settlement gives its hold back, and a settlement's commit
    // before its release in Redis, which admission reads: looked at again shortly.
    if (await batchHoldsSettling(ctx.sql, batch.account_id, batch.id))
      return { dispatched, retryAfterMs: SETTLING_RETRY_MS };
    if (!releasesFinished) {
      releasesFinished = true;
      // Money came back: these lines (still pending, nothing of the run admitted before them) are
      // tried once more now, and a refusal then stands. Not left for a later run, which an account
      // always settling something would send round again and again.
      if ((await releaseSettledOfAccount(ctx, batch.account_id)) > 0) {
        after = before;
        continue;
      }
    }
    for (const { o, line } of refused) await failLine(ctx, line.id, o.error);
  }
  return { dispatched, retryAfterMs: null };
}
