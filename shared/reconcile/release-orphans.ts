import { unadmitHold } from '../admission/admit.js';
import type { Context } from '../context.js';
import { holdStatusesOf } from '../db/queries/reconcile-admission.js';
import { holdsAwaitingSettlement } from '../ledger/pending-settlements.js';
import type { Queues } from '../queues.js';
import { INSTANCE_TTL_MS, liveInstances } from '../redis/instance.js';
import type { AccountIds } from './redis-state.js';

const CHUNK = 1000;

/**
 * How long after its admission the record of a process that died can be given back: past the
 * heartbeat's lifetime twice over, so a process alive at the admission has been seen gone.
 */
export const ORPHAN_AFTER_MS = 2 * INSTANCE_TTL_MS;

/** What is logged (warn) for each admission given back: the soak counts these lines. */
export const ORPHAN_RELEASED =
  'reconcile: gave back the admission of a hold Postgres never recorded (the api or workers that admitted it stopped before writing it)';

interface Orphan {
  accountId: string;
  holdId: string;
  keyId: string;
  amount: string;
  admittedAt: Date;
}

/**
 * Give back the admissions of hold records Postgres never got a row for, once nothing can still
 * settle them: an api killed between a request's Redis step and its hold's write leaves the
 * reservation in the balance and in the key's day and month counters (and its RPM slot, which ages
 * out of the window within the minute), and its record would only expire an hour past the hold's
 * deadline, giving nothing back. A record is an orphan when Postgres has no row for it, no
 * settlement message waiting to run names it, and either the process that admitted it (`by`) is
 * gone (no heartbeat: redis/instance.ts) and it was admitted ORPHAN_AFTER_MS ago, or, whoever
 * admitted it, the hold's deadline is more than HOLD_GRACE_SECONDS past. A dead process writes
 * nothing more, so its records need not wait for a job hold's 6 h deadline (a live one whose write
 * is stuck may still land it). As for the message: a served request whose hold write failed is
 * billed through such a message (it writes the hold from its terms), and is handed off well before
 * its deadline, since its deadline covers the longest stream. The release is admission's own take-back (unadmitHold), atomic and once
 * per record, against the counters of the day and month it was admitted in. Records written before admission recorded
 * `at` and `dl` are left to their TTL. Returns how many it released.
 */
export async function releaseOrphanRecords(
  ctx: Context,
  queues: Queues,
  scope: Map<string, AccountIds>,
  asOf: Date,
): Promise<number> {
  const holds = [...scope].flatMap(([accountId, ids]) =>
    [...ids.holds].map((holdId) => ({ accountId, holdId })),
  );
  let released = 0;
  for (let i = 0; i < holds.length; i += CHUNK) {
    const orphans = await orphansAmong(ctx, queues, holds.slice(i, i + CHUNK), asOf);
    for (const o of orphans) {
      if (!(await unadmitHold(ctx, o))) continue;
      released++;
      ctx.logger.warn(
        { account: o.accountId, holdId: o.holdId, childKey: o.keyId, amount: o.amount },
        ORPHAN_RELEASED,
      );
    }
  }
  return released;
}

async function orphansAmong(
  ctx: Context,
  queues: Queues,
  holds: { accountId: string; holdId: string }[],
  asOf: Date,
): Promise<Orphan[]> {
  const graceMs = ctx.config.HOLD_GRACE_SECONDS * 1000;
  const records = await Promise.all(
    holds.map((h) => ctx.redis.hmget(ctx.keys.hold(h.accountId, h.holdId), 'amt', 'k', 'at', 'dl', 'by')),
  );
  const admitters = [...new Set(records.flatMap(([, , , , by]) => (by ? [by] : [])))];
  const alive = await liveInstances(ctx, admitters);
  const late: Orphan[] = [];
  for (const [j, [amount, keyId, at, dl, by]] of records.entries()) {
    if (!amount || !keyId || !at || !dl) continue; // gone, or written before `at` and `dl` were
    const deadlinePast = Number(dl) + graceMs <= asOf.getTime();
    const admitterGone = !!by && !alive.has(by) && Number(at) + ORPHAN_AFTER_MS <= asOf.getTime();
    if (!deadlinePast && !admitterGone) continue;
    late.push({ ...holds[j]!, keyId, amount, admittedAt: new Date(Number(at)) });
  }
  if (late.length === 0) return [];
  const known = await holdStatusesOf(
    ctx.sql,
    late.map((o) => o.holdId),
  );
  const unknown = late.filter((o) => !known.has(o.holdId));
  const settling = await holdsAwaitingSettlement(queues, new Set(unknown.map((o) => o.holdId)));
  if (settling === 'backlog') return [];
  return unknown.filter((o) => !settling.has(o.holdId));
}
