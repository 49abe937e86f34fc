import type { Context } from '../../context.js';
import type { Queues } from '../../queues.js';
import { runReconcile } from '../../reconcile/index.js';
import { saveReconcileSummary } from '../../reconcile/summary.js';

/**
 * The periodic reconciliation check: it reports drift, and mends only what is safe to mend under
 * live traffic, in Redis (never the books, nor other admission drift: an operator's call, `npm run
 * reconcile -- --fix`). An open hold whose Redis record was lost (Redis restarted) gets it back, so
 * its settlement gives back what it did not charge and the key's limits and the balance do not stay
 * tight. A live job whose inference message is gone (an api that died between the job's commit and
 * its hand-off to the queue, Redis lost) is queued again, so it runs within a check's interval
 * instead of failing at its hold's deadline (6 h); an open batch whose dispatcher trigger is gone
 * is triggered again, instead of sitting until its window ends.
 */
export async function reconcileCheck(
  ctx: Context,
  queues: Queues,
): Promise<{ ok: boolean; drift: number; unconfirmed: number }> {
  const report = await runReconcile(ctx, { queues, requeueLost: true, restoreHoldRecords: true });
  await saveReconcileSummary(ctx, report);
  if (!report.ok)
    ctx.logger.error(
      { checks: report.checks, drift: report.drift.slice(0, 20) },
      'reconciliation found drift; run `npm run reconcile` for the full report',
    );
  return { ok: report.ok, drift: report.drift.length, unconfirmed: report.unconfirmed };
}
