import type { Context } from '../context.js';
import type { HeldInPostgres } from '../db/queries/admission-state.js';
import { dayKey } from '../periods.js';

/** A hold record Redis has (admit-9.lua's): its amount, child key, and the day it was admitted in. */
export interface HeldRecord {
  id: string;
  amount: bigint;
  key: string;
  /** YYYYMMDD, the day counter it reserved on. */
  day: string;
}

/**
 * The account's hold records, through its index (keys.heldRecords). Read by a load that rebuilds a
 * value Redis lost (the balance, a counter) before it reads Postgres: the records are what that
 * value's live releases will go through, and the read says how each stands (sortHeld).
 */
export async function readHeldRecords(ctx: Context, accountId: string): Promise<HeldRecord[]> {
  const ids = await ctx.redis.smembers(ctx.keys.heldRecords(accountId));
  if (ids.length === 0) return [];
  const pipe = ctx.redis.pipeline();
  for (const id of ids) pipe.hmget(ctx.keys.hold(accountId, id), 'amt', 'k', 'at');
  const replies = (await pipe.exec()) ?? [];
  const out: HeldRecord[] = [];
  const gone: string[] = [];
  for (const [i, [err, fields]] of replies.entries()) {
    if (err) throw err;
    const [amt, key, at] = fields as (string | null)[];
    // Gone (released since, or expired), or written before records kept `at`: nothing to count.
    if (!amt) gone.push(ids[i]!);
    if (!amt || !key || !at) continue;
    out.push({ id: ids[i]!, amount: BigInt(amt), key, day: dayKey(new Date(Number(at))) });
  }
  // A name left by a record that expired unreleased: pruned here, as nothing else would.
  if (gone.length > 0)
    await ctx.scripts.run(
      'pruneHeldRecords',
      [ctx.keys.heldRecords(accountId), ...gone.map((id) => ctx.keys.hold(accountId, id))],
      gone,
    );
  return out;
}

/** What a load writes beside the values it rebuilt, from its read of the records' holds. */
export interface HeldSorted {
  /**
   * Reserved by records whose holds the read had no row for (a write still in flight, or a served
   * request's failed write its settlement will make): the read leaves them out, and each will be
   * released (or taken back) through its record, so the loaded value must hold them.
   */
  unwritten: { balance: bigint; day: bigint; month: bigint };
  /**
   * Records whose holds the read saw resolved: the loaded value counts their charges already, and
   * a release of theirs still to come (the settlement's Redis step late, its worker killed after
   * its commit) must leave it alone (the `x` flags, hold-index.lua).
   */
  settled: { balance: string[]; day: string[]; month: string[] };
}

/**
 * Sort the records against a Postgres read taken after they were read, for a load of `keyId`'s
 * counters of `day` (YYYYMMDD) and its month and of the account's balance. A load writes only the
 * values it found missing before it read the records, and admissions that would count into those
 * wait for them; the other writer of records, a balance load (the open holds' records), moves the
 * load epoch, which refuses a write whose records were read before: no record that matters to
 * them comes after the read unseen.
 */
export function sortHeld(
  records: readonly HeldRecord[],
  read: readonly HeldInPostgres[],
  keyId: string,
  day: string,
): HeldSorted {
  const month = day.slice(0, 6);
  const inPostgres = new Map(read.map((h) => [h.id, h]));
  const out: HeldSorted = {
    unwritten: { balance: 0n, day: 0n, month: 0n },
    settled: { balance: [], day: [], month: [] },
  };
  for (const r of records) {
    const h = inPostgres.get(r.id);
    if (!h) {
      out.unwritten.balance += r.amount;
      if (r.key !== keyId) continue;
      if (r.day === day) out.unwritten.day += r.amount;
      if (r.day.startsWith(month)) out.unwritten.month += r.amount;
    } else if (!h.open) {
      out.settled.balance.push(r.id);
      if (h.key !== keyId) continue;
      if (h.day === day) out.settled.day.push(r.id);
      if (h.day.startsWith(month)) out.settled.month.push(r.id);
    }
  }
  return out;
}

/** Nothing to count or mark: a load of values Redis did not lose (a key's first request of a day). */
export const NOTHING_HELD: HeldSorted = {
  unwritten: { balance: 0n, day: 0n, month: 0n },
  settled: { balance: [], day: [], month: [] },
};
