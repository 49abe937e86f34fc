import type { Context } from '../../context.js';
import type { Queues } from '../../queues.js';
import { runReconcile } from '../../reconcile/index.js';
import { saveReconcileSummary } from '../../reconcile/summary.js';

/**
 * The periodic reconciliation check: it reports drift, and mends Redis from Postgres, the book of
 * record (never the books themselves: that is an operator's call). Admission state that drifted is
 * repaired at a consistent point (watched.ts): after Redis lost its data, say, each key's state is
 * rebuilt on its next request, counting its open holds in full, and their lost records are put back
 * here, so limits and balances do not stay tight. A live job whose inference message is gone (an
 * api that died between the job's commit and its hand-off to the queue, Redis lost) is queued
 * again, so it runs within a check's interval instead of failing at its hold's deadline (6 h); an
 * open batch whose dispatcher trigger is gone is triggered again, instead of sitting until its
 * window ends.
 * Its counts go to Redis for the drift metric; drift is logged.
 */
export async function reconcileCheck(
  ctx: Context,
  queues: Queues,
): Promise<{ ok: boolean; drift: number; unconfirmed: number }> {
  const report = await runReconcile(ctx, { queues, requeueLost: true, repairAdmission: true });
  await saveReconcileSummary(ctx, report);
  if (!report.ok)
    ctx.logger.error(
      { checks: report.checks, drift: report.drift.slice(0, 20) },
      'reconciliation found drift; run `npm run reconcile` for the full report',
    );
  return { ok: report.ok, drift: report.drift.length, unconfirmed: report.unconfirmed };
}
