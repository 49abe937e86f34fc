import type { Context } from '../context.js';
import { resolvedHoldsAmong } from '../db/queries/reconcile-admission.js';
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
