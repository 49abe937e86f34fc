import type { Context } from '../../context.js';
import type { Queues } from '../../queues.js';
import { runReconcile } from '../../reconcile/index.js';
import { saveReconcileSummary } from '../../reconcile/summary.js';
import { sweepStaleHolds } from './stale-holds.js';

/**
 * The periodic reconciliation check: it reports drift, and mends only what is safe to mend under
 * live traffic, in Redis (never the books, nor other admission drift: an operator's call, `npm run
 * reconcile -- --fix`). An open hold whose Redis record was lost (Redis restarted) gets it back, so
 * its settlement gives back what it did not charge and the key's limits and the balance do not stay
 * tight. A live job whose inference message is gone (an api that died between the job's commit and
 * its hand-off to the queue, Redis lost) is queued again, so it runs within a check's interval
 * instead of failing at its hold's deadline (6 h); an open batch whose dispatcher trigger is gone
 * is triggered again, instead of sitting until its window ends.
 *
 * It runs the stale-hold sweep first and judges open holds as of the instant that sweep did. A hold
 * whose request ended and whose settlement never came (a worker killed between ending a job and
 * handing off its settlement) is the sweeper's to resolve once HOLD_GRACE_SECONDS have passed, and
 * the check uses the same grace: on their own two schedules, the check would see such a hold in the
 * moments between its grace ending and the sweeper's next run, and page an operator about a hold
 * that was voided a few seconds later with nothing charged. Swept first, what is still open and past
 * its grace is what the sweeper could not resolve (its settlement refused) and did not leave to a
 * waiting settlement message: really lost. A slack of one sweeper interval would depend on how long
 * a sweep takes under load; this depends on nothing. The sweep is idempotent, so one running at
 * the same time from the sweeper's own schedule is harmless.
 *
 * Before judging Redis it gives back the admissions of hold records Postgres never got a row for
 * (an api killed between a request's Redis step and its hold's write), once no settlement message
 * waiting names them and either the process that admitted them is gone (no heartbeat) a minute
 * after admission, or the hold's deadline is HOLD_GRACE_SECONDS past (release-orphans.ts):
 * otherwise they kept the reservation on the key's limits and the balance until an operator's
 * --fix after the record expired, an hour past the deadline.
 *
 * It also finishes, before judging Redis, the Redis steps of settlements that committed without
 * them (a settlement worker killed between its commit and its release): Redis still held the
 * hold's record and its reservation in the key's counters and the balance until the message ran
 * again after its lock expired, and the check paged an operator for it. Finishing them, rather than
 * not counting them while a settlement message for the hold waits, because: the release is
 * idempotent per hold (the script deletes the record; whichever of the check and the retried
 * message comes second finds none and changes nothing, and a credit is sent once), so it is safe
 * under live traffic and mends only Redis, toward what Postgres already says; it gives the key's
 * limits and the balance back now, not when the message's lock expires; it needs no knowing which
 * message names which hold; and it mends a release whose message is gone too. What is compared
 * after it is real drift: a balance or counter off with no resolved hold's record behind it is
 * still reported.
 */
export async function reconcileCheck(
  ctx: Context,
  queues: Queues,
): Promise<{ ok: boolean; drift: number; unconfirmed: number }> {
  const asOf = ctx.clock.now();
  await sweepStaleHolds(ctx, queues, { asOf });
  const report = await runReconcile(ctx, {
    queues,
    requeueLost: true,
    restoreHoldRecords: true,
    finishSettlements: true,
    releaseOrphans: true,
    holdsAsOf: asOf,
  });
  await saveReconcileSummary(ctx, report);
  if (!report.ok)
    ctx.logger.error(
      { checks: report.checks, drift: report.drift.slice(0, 20) },
      'reconciliation found drift; run `npm run reconcile` for the full report',
    );
  return { ok: report.ok, drift: report.drift.length, unconfirmed: report.unconfirmed };
}
