import { readRpmWindow } from '../admission/rpm-window.js';
import type { Context } from '../context.js';
import type { TxSql } from '../db/client.js';
import {
  availableOf,
  holdStatusesOf,
  type KeyTruthRow,
  keyTruthOf,
  type OpenHoldRow,
  openHoldsOf,
  recentCreditIdsOf,
} from '../db/queries/reconcile-admission.js';
import type { RpmWindowEntry } from '../db/queries/rpm-window.js';
import { CREDIT_MARK_MS } from '../ledger/credit.js';
import { isoDay, monthResetsAt, startOfUtcMonth } from '../periods.js';
import type { AccountIds, RedisAccount } from './redis-state.js';

/** What one account's admission state must be, per Postgres. */
export interface AccountTruth {
  /** Balance less open holds; null when there is no such customer. */
  available: bigint | null;
  openHolds: Map<string, OpenHoldRow>;
  keys: Map<string, KeyTruthRow>;
  /** Status in Postgres of holds Redis has records of (absent = unknown to Postgres). */
  holdStatus: Map<string, string>;
  /** RPM windows of keys to restore, by key (readRestoredWindows); empty unless read. */
  rpmWindows: Map<string, RpmWindowEntry[]>;
  /** The recent credits `available` counts (`kind:ref`): a repair of the balance marks them. */
  creditIds: string[];
}

/** What readTruth reads as of: the UTC day and month, and how far back credits count as recent. */
export interface TruthPeriod {
  day: string;
  monthStart: string;
  monthEnd: string;
  creditsSince: Date;
}

const CHUNK = 500;

/** The UTC day and month of `at` as readTruth takes them (ISO dates, the month as [start, end)). */
export function truthPeriod(at: Date): TruthPeriod {
  return {
    day: isoDay(at),
    monthStart: isoDay(startOfUtcMonth(at)),
    monthEnd: isoDay(monthResetsAt(at)),
    creditsSince: new Date(at.getTime() - CREDIT_MARK_MS),
  };
}

/**
 * Postgres truth for the accounts in scope, in a few batched queries per CHUNK accounts, all read
 * from one snapshot (a repeatable-read transaction). Read apart, a settlement committing between
 * them showed its hold open to one query (so its record was put back, with its reservation) and
 * already charged to the next (so the balance and counters were set without it): releasing that
 * record then gave the reservation back twice, and Redis stayed one charge short of Postgres.
 */
export async function readTruth(
  ctx: Context,
  scope: Map<string, AccountIds>,
  period: TruthPeriod,
): Promise<Map<string, AccountTruth>> {
  return ctx.sql.begin('isolation level repeatable read read only', (tx) => readTruthIn(tx, scope, period));
}

async function readTruthIn(
  db: TxSql,
  scope: Map<string, AccountIds>,
  period: TruthPeriod,
): Promise<Map<string, AccountTruth>> {
  const out = new Map<string, AccountTruth>();
  const accountIds = [...scope.keys()];
  for (let i = 0; i < accountIds.length; i += CHUNK) {
    const ids = accountIds.slice(i, i + CHUNK);
    const [available, holds, credits] = await Promise.all([
      availableOf(db, ids),
      openHoldsOf(db, ids),
      recentCreditIdsOf(db, ids, period.creditsSince),
    ]);
    for (const id of ids)
      out.set(id, {
        available: null,
        openHolds: new Map(),
        keys: new Map(),
        holdStatus: new Map(),
        rpmWindows: new Map(),
        creditIds: [],
      });
    for (const a of available) out.get(a.id)!.available = a.available;
    for (const c of credits) out.get(c.account)!.creditIds.push(c.id);
    for (const h of holds) out.get(h.account_id)!.openHolds.set(h.id, h);
    const keyIds = ids.flatMap((id) => [...scope.get(id)!.keys]);
    const redisHolds = ids.flatMap((id) => [...scope.get(id)!.holds]);
    const [keys, statuses] = await Promise.all([
      keyTruthOf(db, keyIds, period),
      holdStatusesOf(db, redisHolds),
    ]);
    // A key Redis filed under another account is not added: compare reports it as unknown there.
    for (const k of keys) out.get(k.account_id)?.keys.set(k.id, k);
    for (const id of ids) {
      const t = out.get(id)!;
      for (const h of scope.get(id)!.holds) {
        const s = statuses.get(h);
        if (s) t.holdStatus.set(h, s);
      }
    }
  }
  return out;
}

/**
 * The RPM windows of the keys --fix restores (state and window both absent from Redis), from their
 * holds of the 60 s before `at`: restored without it, a key's window would start empty and admit up
 * to a minute of requests beyond its limit.
 */
export async function readRestoredWindows(
  ctx: Context,
  redis: RedisAccount,
  truth: AccountTruth,
  at: Date,
): Promise<Map<string, RpmWindowEntry[]>> {
  const out = new Map<string, RpmWindowEntry[]>();
  await Promise.all(
    [...redis.keys].map(async ([id, rk]) => {
      const key = truth.keys.get(id);
      if (!key || rk.rpmWindow || Object.keys(rk.hash).length > 0) return;
      out.set(id, await readRpmWindow(ctx.sql, key, at));
    }),
  );
  return out;
}
