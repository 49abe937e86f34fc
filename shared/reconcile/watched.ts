import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { openHoldsOf } from '../db/queries/reconcile-admission.js';
import { releaseIfSettled } from '../ledger/release.js';
import { dayKey, monthKey } from '../periods.js';
import type { Redis } from '../redis/client.js';
import { compareAccount } from './compare.js';
import { type AccountIds, readRedisAccount } from './redis-state.js';
import { queueRepairs } from './repair.js';
import { readRestoredWindows, readTruth, truthPeriod } from './truth.js';
import type { Finding, Repair } from './types.js';

export interface WatchedResult {
  findings: Finding[];
  /** Redis did not change from the read until after Postgres was read: the comparison holds. */
  consistent: boolean;
  fixed: number;
  restored: number;
}

/**
 * Compare one account at a consistent point, and with `apply` repair it in the same step. The
 * account's Redis keys are WATCHed and read, Postgres is read, and a MULTI (empty, or carrying the
 * repairs) is executed: Redis refuses it if anything wrote to those keys since the read — an
 * admission, a release, a top-up credit, even one that put the same value back — and the caller
 * tries again. Two waits of `inflightMs` close what WATCH cannot see, the gap between the two
 * halves of one request: before Postgres is read, so a hold whose Redis step came before the watch
 * has been inserted (or released, which fires the watch); and after, so the Redis step of anything
 * Postgres already showed lands inside the watch. A `conn` of its own is needed (WATCH is per
 * connection), used for one account at a time; one account's keys share a hash slot, so this also
 * works on Redis Cluster. It comes from openWatchConnection: once it drops, this step fails and
 * nothing it sends afterwards reaches Redis, on that connection or another.
 *
 * What is left: a request whose two halves are further apart than `inflightMs` (a process paused
 * between its commit and its Redis step) can still be counted twice or not at all. A key's RPM
 * window is rebuilt only with its state (from its holds of the last 60 s) and only where it is
 * absent; one that exists is live traffic's and is never compared.
 */
export async function watchedEvaluate(
  ctx: Context,
  conn: Redis,
  accountId: string,
  ids: AccountIds,
  opts: {
    restore: boolean;
    apply: boolean;
    inflightMs: number;
    /**
     * Apply only these repairs (the rest is reported): the scheduled check puts back hold records
     * and key states Redis missed.
     */
    only?: Repair['kind'][];
  },
): Promise<WatchedResult> {
  const at = ctx.clock.now();
  const period = { day: dayKey(at), month: monthKey(at) };
  const pgPeriod = truthPeriod(at);
  for (const h of await openHoldsOf(ctx.sql, [accountId])) ids.holds.add(h.id);
  const k = ctx.keys;
  const watch = [
    k.balance(accountId),
    // A credit or a release that finds the balance or a counter missing moves it: one landing
    // between this look's read of Postgres and its write would otherwise be in neither.
    k.loadEpoch(accountId),
    k.heldRecords(accountId),
    ...[...ids.keys].flatMap((id) => [
      k.childKey(accountId, id),
      k.day(accountId, id, period.day),
      k.month(accountId, id, period.month),
      k.rpm(accountId, id),
    ]),
    ...[...ids.mks].map((id) => k.managementKey(accountId, id)),
    ...[...ids.holds].map((id) => k.hold(accountId, id)),
  ];
  await conn.watch(...watch);
  try {
    // The records made since the scan too (their index is watched: a record made or released after
    // this read spoils the look): one of a hold Postgres has no row for yet is a live reservation
    // the balance and counters are judged with (compare.ts), not repaired away.
    for (const id of await conn.smembers(k.heldRecords(accountId))) ids.holds.add(id);
    const redis = await readRedisAccount(conn, k, accountId, ids, period);
    await sleep(opts.inflightMs);
    const truth = (await readTruth(ctx, new Map([[accountId, ids]]), pgPeriod)).get(accountId)!;
    if (opts.restore) truth.rpmWindows = await readRestoredWindows(ctx, redis, truth, at);
    const findings = compareAccount(ctx, accountId, redis, truth, new Set(ids.holds), at, {
      restore: opts.restore,
      ...period,
    });
    await sleep(opts.inflightMs);
    const multi = conn.multi();
    // Repairing only some things, a hold record goes back only beside a balance (put-hold-record-5.lua
    // says why); a full repair writes the balance in the same step.
    const partial = (r: Repair) =>
      opts.only!.includes(r.kind) && (r.kind !== 'putHold' || redis.bal !== null);
    const applied = opts.only
      ? findings.map((f) => ({ ...f, repairs: f.repairs.filter(partial) }))
      : findings;
    const counts = opts.apply ? queueRepairs(multi, applied) : { fixed: 0, restored: 0 };
    const done = await multi.exec();
    if (done === null) return { findings, consistent: false, fixed: 0, restored: 0 };
    if (opts.apply) await releaseSettledMeanwhile(ctx, applied);
    return { findings, consistent: true, ...counts };
  } finally {
    await conn.unwatch().catch(() => {});
  }
}

/** The holds whose records a repair put back, released if they settled meanwhile (release.ts). */
export async function releaseSettledMeanwhile(ctx: Context, findings: Finding[]): Promise<void> {
  const put = findings.flatMap((f) => f.repairs.flatMap((r) => (r.kind === 'putHold' ? [r.holdId] : [])));
  await releaseIfSettled(ctx, put);
}
