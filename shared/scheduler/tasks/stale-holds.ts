import { triggerDispatch } from '../../batches/trigger.js';
import type { Context } from '../../context.js';
import { failJob, type JobRow } from '../../db/queries/jobs.js';
import { findStaleHolds, type StaleHoldRow } from '../../db/queries/stale-holds.js';
import { ApiError, errorBody } from '../../errors.js';
import { afterJobFinished } from '../../jobs/finish.js';
import { holdsLeftToSettlement, requestEnded } from '../../ledger/pending-settlements.js';
import { type Settlement, type SettlementResult, settleHolds } from '../../ledger/settle.js';
import { countStaleHolds } from '../../metrics/registry.js';
import type { Queues } from '../../queues.js';

const BATCH = 200;

export interface StaleHoldsResult {
  voided: number;
  posted: number;
  /** Jobs it ended: expired (a job of its own) or failed (a batch line). */
  jobsEnded: number;
}

/**
 * Resolve holds nothing else will (DESIGN.md invariant 5: every hold ends settled or released):
 * - past its deadline with its job still queued or running: the job ends visibly, `expired` (a
 *   batch line: `failed`) with error `request_timeout`, code `stale_hold`, and the hold is voided,
 *   unless the job finished in the meantime (then its own
 *   settlement is on the way and the hold is left to it);
 * - past its deadline with no job (a sync chat whose settlement never came): voided;
 * - its job ended more than HOLD_GRACE_SECONDS ago (the settlement message was lost): a job that
 *   succeeded is charged for the usage it recorded, exactly what its settlement would have posted;
 *   any other is voided.
 * A hold whose request has ended is left alone while a settlement message for it still waits to
 * run (holdsLeftToSettlement): a sync request's usage is only in that message, and voiding its
 * hold first would serve it free. settleHolds is idempotent per hold, so a race with a late
 * settlement or a second sweeper is harmless.
 */
export async function sweepStaleHolds(
  ctx: Context,
  queues: Queues,
  opts: {
    /**
     * Judge staleness as of this instant (the scheduled reconciliation check sweeps first and then
     * judges what is left as of the same instant). @default now, read for each page
     */
    asOf?: Date;
  } = {},
): Promise<StaleHoldsResult> {
  const result: StaleHoldsResult = { voided: 0, posted: 0, jobsEnded: 0 };
  const graceMs = ctx.config.HOLD_GRACE_SECONDS * 1000;
  let after: StaleHoldRow | null = null;
  for (;;) {
    const now = opts.asOf ?? ctx.clock.now();
    const stale: StaleHoldRow[] = await findStaleHolds(ctx.sql, now, graceMs, BATCH, after);
    after = stale.at(-1) ?? null;
    const items: Settlement[] = [];
    const failed: JobRow[] = [];
    // A hold whose settlement message is still waiting (late, or retrying) is not lost.
    const settling = await holdsLeftToSettlement(queues, stale);
    for (const h of stale) {
      if (settling.has(h.hold_id)) continue;
      if (h.job_id && !requestEnded(h)) {
        const job = await failJob(ctx.sql, h.job_id, {
          // A job of its own that ran out of its time is `expired` (API.md's job statuses; its
          // webhook is job.failed, the one event for a job that did not succeed). A batch line
          // `failed`: a line's `expired` says its batch expired, and its error file says so.
          status: h.job_batch_id ? 'failed' : 'expired',
          // An error type as every job error has (a client switches on `type`); `code` says which.
          error: errorBody(
            new ApiError(
              'request_timeout',
              'The job did not finish before its reservation expired; nothing was charged',
              { code: 'stale_hold' },
            ),
          ).error,
          at: now,
        });
        if (!job) continue;
        failed.push(job);
        items.push({ holdId: h.hold_id, outcome: 'void' });
      } else if (h.job_status === 'succeeded' && h.job_usage) {
        items.push({
          holdId: h.hold_id,
          outcome: 'post',
          promptTokens: h.job_usage.prompt_tokens,
          completionTokens: h.job_usage.completion_tokens,
        });
      } else {
        items.push({ holdId: h.hold_id, outcome: 'void' });
      }
    }
    if (items.length) {
      const results = await settleEachIfNeeded(ctx, items);
      const voided = results.filter((r) => r.status === 'voided').length;
      const posted = results.filter((r) => r.status === 'posted').length;
      result.voided += voided;
      result.posted += posted;
      countStaleHolds(voided, posted);
    }
    // As the inference worker does: a failed batch line wakes its batch's dispatcher.
    const onBatchLine = (job: JobRow) => triggerDispatch(queues, job.batch_id!);
    for (const job of failed) await afterJobFinished(ctx, queues, job, { onBatchLine });
    result.jobsEnded += failed.length;
    if (stale.length > 0) ctx.logger.warn({ ...result, found: stale.length }, 'resolved stale holds');
    // Each pass reads the page after the last (`after`): holds left alone (settling, or jobs that
    // just finished) or that could not be settled are never read again in this sweep.
    if (stale.length < BATCH) return result;
  }
}

/**
 * The holds in one transaction; if that fails, one by one, as the settlement worker does: one hold
 * that cannot settle (a constraint it breaks) must not keep the rest open, sweep after sweep.
 */
async function settleEachIfNeeded(ctx: Context, items: Settlement[]): Promise<SettlementResult[]> {
  try {
    return await settleHolds(ctx, items);
  } catch (err) {
    ctx.logger.error(
      { err, holds: items.length },
      'settling stale holds together failed; settling them one by one',
    );
  }
  const out: SettlementResult[] = [];
  for (const item of items) {
    try {
      out.push(...(await settleHolds(ctx, [item])));
    } catch (err) {
      ctx.logger.error({ err, holdId: item.holdId }, 'a stale hold could not be settled');
    }
  }
  return out;
}
