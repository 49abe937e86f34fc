import type { Context } from '../context.js';
import { type OpenHoldRow, resolvedHoldsAmong } from '../db/queries/reconcile-admission.js';
import { releaseHoldsInRedis } from '../ledger/release.js';

const HOUR_S = 3600;

/** A hold's Redis record outlives the hold's deadline by an hour, as when admission writes it. */
export function holdRecordTtlS(deadline: Date, at: Date): number {
  return Math.max(Math.ceil((deadline.getTime() - at.getTime()) / 1000), 0) + HOUR_S;
}

/**
 * A hold whose record was just put back may have settled after Postgres was read. Its release then
 * found no record (Redis had lost it) and gave nothing back, and the counters and balance restored
 * with the record would keep its whole reservation. Release those now, as their settlement would
 * have: the script deletes the record, so a release still on its way (or this one, if that came
 * first) finds nothing and changes nothing.
 */
export async function releaseIfSettled(ctx: Context, holdIds: string[]): Promise<void> {
  if (holdIds.length === 0) return;
  const settled = await resolvedHoldsAmong(ctx.sql, holdIds);
  await releaseHoldsInRedis(
    ctx,
    settled.map((h) => ({ hold: h, charged: h.charged })),
  );
}

/**
 * Put back the Redis records of open holds (never overwriting one that exists), after their
 * reservations were counted again into counters or a balance rebuilt from Postgres: without its
 * record, a hold's settlement gives nothing back and the key's limits and the account's balance
 * stay tight by its whole reservation. `holds` must come from the same Postgres snapshot as the
 * rebuilt values.
 */
export async function putBackHoldRecords(ctx: Context, holds: OpenHoldRow[], at: Date): Promise<void> {
  if (holds.length === 0) return;
  await Promise.all(
    holds.map((h) =>
      ctx.scripts.run(
        'putHoldRecord',
        [ctx.keys.hold(h.account_id, h.id)],
        [h.amount.toString(), h.child_key_id, holdRecordTtlS(h.deadline, at)],
      ),
    ),
  );
  await releaseIfSettled(
    ctx,
    holds.map((h) => h.id),
  );
}
