import type { Context } from '../../context.js';
import type { Queues } from '../../queues.js';
import { runReconcile } from '../../reconcile/index.js';
import { saveReconcileSummary } from '../../reconcile/summary.js';

/**
 * The periodic reconciliation check: report only, never a repair (repairs are an operator's call,
 * `npm run reconcile -- --fix`). Its counts go to Redis for the drift metric; drift is logged.
 */
export async function reconcileCheck(
  ctx: Context,
  queues: Queues,
): Promise<{ ok: boolean; drift: number; unconfirmed: number }> {
  const report = await runReconcile(ctx, { queues });
  await saveReconcileSummary(ctx, report);
  if (!report.ok)
    ctx.logger.error(
      { checks: report.checks, drift: report.drift.slice(0, 20) },
      'reconciliation found drift; run `npm run reconcile` for the full report',
    );
  return { ok: report.ok, drift: report.drift.length, unconfirmed: report.unconfirmed };
}
