import type { Context } from '../context.js';
import type { Queues } from '../queues.js';
import { type AdmissionProgress, checkAdmissionState } from './admission-check.js';
import { checkBatchDispatch } from './batch-check.js';
import { checkLedger } from './ledger-check.js';
import { checkInferenceQueue } from './queue-check.js';
import { emptyChecks, type ReconcileReport } from './types.js';

export interface ReconcileOptions {
  /** Repair Redis from Postgres (admission state; lost inference and batch dispatch messages). @default false */
  fix?: boolean;
  /**
   * Put back the Redis records of open holds that lost theirs, even without `fix` (which repairs
   * everything, and rebuilds every key used this month): the one repair that is right under live
   * traffic, whatever else moves. The counters and the balance already count an open hold; its
   * record only lets its settlement give back what it did not charge. Key states Redis holds an
   * older version of (a change whose publish failed after its commit) are brought up to date too:
   * also right whatever moves, and a deleted key must stop. Records their account's index does not
   * name are reported, not named again (compare-holds.ts says why). @default false
   */
  restoreHoldRecords?: boolean;
  /**
   * Queue again the live jobs whose inference message is lost, and the dispatcher of a batch whose
   * trigger is, even without `fix`: always safe (a job's row is its record; one that finished
   * meanwhile is skipped, and settlement is once per hold; a dispatcher run with nothing to do does
   * nothing). @default fix
   */
  requeueLost?: boolean;
  /**
   * Before comparing Redis with Postgres, release the Redis records of holds Postgres has resolved
   * (a settlement that committed and died before its Redis steps) and send their referral credits,
   * as the settlement's retry would: each record is released once, so this is safe under live
   * traffic. Without it they are reported (redis_hold_records, and the balance and counters they
   * still reserve), and `fix` would delete such a record without giving its unused part back, its
   * values' own repair held off while another hold is in flight (tight until a later `fix`).
   * @default `fix`
   */
  finishSettlements?: boolean;
  /**
   * Give back the admissions of hold records Postgres never got a row for once the hold's deadline
   * is HOLD_GRACE_SECONDS past and no settlement message waiting names it (an api killed between
   * a request's Redis step and its hold's write; release-orphans.ts), judged at `holdsAsOf`. Safe
   * under live traffic (atomic, once per record). Needs `queues`. @default fix
   */
  releaseOrphans?: boolean;
  /**
   * Needed for the inference-queue check (skipped without it), and to leave out of the holds check
   * the holds of ended requests whose settlement message still waits (reported without it).
   */
  queues?: Queues;
  /**
   * The instant open holds are judged stale at. The scheduled check sweeps stale holds first and
   * passes the instant that sweep judged at: a hold that turned stale after it is the next sweep's
   * to resolve, not drift. @default now
   */
  holdsAsOf?: Date;
  /** How far apart the Redis and Postgres halves of one request may be. @default config.RECONCILE_INFLIGHT_MS */
  inflightMs?: number;
  /** Told after each group of accounts the admission check looked at: how many so far, of how many. */
  onProgress?: AdmissionProgress;
}

/**
 * Reconciliation (DESIGN.md invariant 5): the ledger's own invariants, holds against jobs, Redis
 * admission state against Postgres, the inference queue against live jobs and the batches queue
 * against open batches. Postgres is never
 * changed; with `fix`, Redis is brought back to it.
 */
export async function runReconcile(ctx: Context, opts: ReconcileOptions = {}): Promise<ReconcileReport> {
  const at = ctx.clock.now();
  const fix = opts.fix ?? false;
  const inflightMs = opts.inflightMs ?? ctx.config.RECONCILE_INFLIGHT_MS;
  const ledger = await checkLedger(ctx, { queues: opts.queues, holdsAsOf: opts.holdsAsOf });
  // Accounts whose Postgres figures are wrong themselves get their Redis compared, never repaired.
  const withheld = fix ? [...ledger.untrusted].sort() : [];
  if (withheld.length)
    ctx.logger.warn(
      { accounts: withheld },
      'reconcile: not repairing the Redis state of accounts whose own Postgres figures are wrong',
    );
  const restoreOnly = !fix && (opts.restoreHoldRecords ?? false);
  const admission = await checkAdmissionState(ctx, {
    fix: fix || restoreOnly,
    eager: fix,
    // The scheduled check's restore-only repairs are right whatever the figures (a deleted key must stop).
    ...(fix ? { withhold: ledger.untrusted } : {}),
    inflightMs,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    finishSettlements: opts.finishSettlements ?? fix,
    ...((opts.releaseOrphans ?? fix) && opts.queues
      ? { releaseOrphans: { queues: opts.queues, asOf: opts.holdsAsOf ?? at } }
      : {}),
    // What is right whatever live traffic does: an open hold's lost record, a key state Redis missed
    // a newer version of (a deleted key must stop). Not a record's name its account's index lost: a
    // value rebuilt since could not see the record, and its release, finding its name missing, takes
    // the values away to be loaded again (release-holds-n.lua); named again, it would give back.
    ...(restoreOnly ? { only: ['putHold' as const, 'newerState' as const] } : {}),
  });
  const queue = opts.queues
    ? await checkInferenceQueue(ctx, opts.queues, { fix: opts.requeueLost ?? fix, inflightMs })
    : { drift: [], unconfirmed: 0, fixed: 0, jobs: 0 };
  const batches = opts.queues
    ? await checkBatchDispatch(ctx, opts.queues, { fix: opts.requeueLost ?? fix, inflightMs })
    : { drift: [], unconfirmed: 0, fixed: 0 };

  const drift = [...ledger.drift, ...admission.drift, ...queue.drift, ...batches.drift];
  const checks = emptyChecks();
  for (const d of drift) checks[d.check]++;
  return {
    at: at.toISOString(),
    ok: drift.length === 0,
    checks,
    drift,
    unconfirmed: admission.unconfirmed + queue.unconfirmed + batches.unconfirmed,
    unchecked: admission.unchecked,
    withheld,
    fixed: admission.fixed + queue.fixed + batches.fixed,
    restored: admission.restored,
    scanned: { ...admission.scanned, jobs: queue.jobs },
  };
}

/** The report as an operator reads it. */
export function formatReport(r: ReconcileReport, opts: { fixed: boolean }): string {
  const lines = [
    `reconcile ${r.at}: ${r.ok ? 'no drift' : `${r.drift.length} drift item(s)`}`,
    `  Redis against Postgres: ${r.scanned.accounts} account(s), ${r.scanned.keys} key(s), ${r.scanned.holds} hold(s) with admission state; ${r.scanned.jobs} live job(s)`,
  ];
  for (const [check, n] of Object.entries(r.checks))
    lines.push(`  ${n === 0 ? 'ok   ' : 'DRIFT'} ${check}${n ? ` (${n})` : ''}`);
  for (const d of r.drift) {
    const values = d.expected !== undefined || d.actual !== undefined;
    lines.push(
      `  - [${d.check}] ${d.subject}: ${d.message}${values ? ` (expected ${d.expected ?? '?'}, actual ${d.actual ?? '?'})` : ''}`,
    );
  }
  if (r.unconfirmed)
    lines.push(`  ${r.unconfirmed} difference(s) changed between two looks: requests in flight, not drift`);
  if (r.unchecked.length)
    lines.push(
      `  ${r.unchecked.length} account(s) changed under every consistent look, so their differences are neither confirmed nor${opts.fixed ? ' repaired' : ' ruled out'}: run again when they are quieter (${r.unchecked.join(', ')})`,
    );
  if (r.withheld.length)
    lines.push(
      `  ${r.withheld.length} account(s) not repaired in Redis, because Postgres's own figures for them are wrong (ledger_balances, usage_vs_holds above): mend those first (${r.withheld.join(', ')})`,
    );
  if (opts.fixed)
    lines.push(`  fixed ${r.fixed} drift item(s); restored ${r.restored} missing Redis value(s)`);
  return lines.join('\n');
}
