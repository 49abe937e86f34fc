import type { Context } from '../context.js';
import {
  balanceMismatches,
  chargeMismatches,
  closedPeriodMismatches,
  holdJobMismatches,
  overHeldAccounts,
  unbalancedTransfers,
  usageMismatches,
} from '../db/queries/reconcile-ledger.js';
import { holdsLeftToSettlement } from '../ledger/pending-settlements.js';
import { startOfUtcDay } from '../periods.js';
import type { Queues } from '../queues.js';
import type { DriftItem } from './types.js';

/** Most rows reported per check: enough to act on, bounded so a broken ledger cannot flood the report. */
const LIMIT = 100;
/** Closed periods are re-checked for this long after they end. */
const RECHECK_DAYS = 62;
/** Charges are checked against their holds for this long after they are booked. */
const CHARGE_RECHECK_MS = 3600_000;
/**
 * Usage rows are checked against their posted holds from the start of yesterday (UTC): the days
 * admission's limits still read, and the day the next close will freeze into its period. A full
 * month of holds is too much to scan every ten minutes.
 */
const USAGE_RECHECK_DAYS = 1;

const PROBLEMS = {
  hold_past_deadline: 'open hold past its deadline (the stale-hold sweeper should have voided it)',
  hold_of_finished_job: 'open hold of a job that ended (its settlement was lost)',
  live_job_without_open_hold: 'queued or running job whose hold is not open',
} as const;

/**
 * The book of record's own invariants: every transfer sums to zero, every ledger balance equals its
 * postings, no customer has more held than they have, open holds match live jobs, each recent
 * charge equals the holds it billed, closed periods are still what they were closed at.
 *
 * An open hold of an ended request past its grace is drift only when the stale-hold sweeper would
 * not leave it alone: with `queues`, one whose settlement message still waits (retrying, or behind a
 * backlog) is not lost, however late, and is not reported; the sweeper leaves it to that message for
 * the same reason (holdsLeftToSettlement). A message that gives up for good is no longer waiting,
 * and its hold is reported then. `holdsAsOf`: see ReconcileOptions.
 */
export async function checkLedger(
  ctx: Context,
  opts: { queues?: Queues; holdsAsOf?: Date } = {},
): Promise<{ drift: DriftItem[]; untrusted: Set<string> }> {
  const now = ctx.clock.now();
  const graceMs = ctx.config.HOLD_GRACE_SECONDS * 1000;
  const since = new Date(now.getTime() - RECHECK_DAYS * 86_400_000).toISOString().slice(0, 10);
  const usageFrom = new Date(startOfUtcDay(now).getTime() - USAGE_RECHECK_DAYS * 86_400_000);
  const [transfers, balances, overHeld, mismatched, charges, periods, usage] = await Promise.all([
    unbalancedTransfers(ctx.sql, LIMIT),
    balanceMismatches(ctx.sql, LIMIT),
    overHeldAccounts(ctx.sql, LIMIT),
    holdJobMismatches(ctx.sql, opts.holdsAsOf ?? now, graceMs, LIMIT),
    chargeMismatches(ctx.sql, new Date(now.getTime() - CHARGE_RECHECK_MS), LIMIT),
    closedPeriodMismatches(ctx.sql, since, LIMIT),
    usageMismatches(ctx.sql, usageFrom, LIMIT),
  ]);
  const settling = opts.queues ? await holdsLeftToSettlement(opts.queues, mismatched) : new Set();
  const holds = mismatched.filter((h) => !h.hold_id || !settling.has(h.hold_id));
  // Redis is rebuilt from these figures: where they are wrong themselves, a repair would copy the
  // error into admission (a balance row raised by hand would raise what the account may spend).
  const untrusted = new Set([...balances.map((b) => b.id), ...usage.map((u) => u.account_id)]);
  return { drift: ledgerDrift(), untrusted };

  function ledgerDrift(): DriftItem[] {
    return [
      ...transfers.map((t) => ({
        check: 'transfers_balanced' as const,
        subject: `transfer ${t.id}`,
        message: 'postings do not sum to zero',
        expected: '0',
        actual: t.sum.toString(),
      })),
      ...balances.map((b) => ({
        check: 'ledger_balances' as const,
        subject: `ledger account ${b.id}`,
        message: 'balance differs from the sum of its postings',
        expected: b.postings.toString(),
        actual: b.balance.toString(),
      })),
      ...overHeld.map((a) => ({
        check: 'available_non_negative' as const,
        subject: `account ${a.id}`,
        message: 'open holds exceed the balance',
        expected: `held ≤ ${a.balance}`,
        actual: a.held.toString(),
      })),
      ...holds.map((h) => ({
        check: 'holds_vs_jobs' as const,
        subject: [h.hold_id && `hold ${h.hold_id}`, h.job_id && `job ${h.job_id}`].filter(Boolean).join(', '),
        message: PROBLEMS[h.problem],
        actual: `hold ${h.hold_status ?? 'none'}, job ${h.job_status ?? 'none'}`,
      })),
      ...charges.map((c) => ({
        check: 'charges_vs_holds' as const,
        subject: `charge ${c.ref}`,
        message: 'charge differs from the holds it billed',
        expected: `${c.holds_total} nGNK for ${c.holds} requests`,
        actual: `${c.charged} nGNK for ${c.requests} requests`,
      })),
      ...periods.map((p) => ({
        check: 'closed_periods' as const,
        subject: `${p.kind} ${p.kind === 'day' ? p.period : p.period.slice(0, 7)}`,
        message: 'closed period no longer matches its daily usage',
        expected: p.actual.toString(),
        actual: p.recorded.toString(),
      })),
      ...usage.map((u) => ({
        check: 'usage_vs_holds' as const,
        subject: `child key ${u.child_key_id} on ${u.day}`,
        message: 'daily usage differs from the key’s posted holds',
        expected: `${u.holds_cost} nGNK for ${u.holds_requests} requests`,
        actual: `${u.usage_cost} nGNK for ${u.usage_requests} requests`,
      })),
    ];
  }
}
