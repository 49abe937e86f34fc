import type { Context } from '../../shared/context.js';
import type { DriftItem } from '../../shared/reconcile/types.js';
import type { Books } from './books.js';
import type { Journal } from './journal.js';
import type { World } from './world.js';

/**
 * Requests a killed api admitted but never recorded (docs/operations.md, "What a crash costs"): a sync chat it
 * answered before its grouped hold write, or a request it was serving; and batch lines that killed
 * workers admitted but never recorded (the dispatcher admits a line, then writes it). Their Redis
 * reservation stays on the key's counters and the account's balance (tight, never loose) until the
 * scheduler's check gives it back, and each took its key's RPM slot for the minute.
 */
export interface CrashOrphan {
  holdId: string;
  accountId: string;
  keyId: string;
  amount: bigint;
  /** Which kill explains it; a batch line's (workers) is known to the journal only by this record. */
  cause: 'api' | 'workers';
  /** When it was admitted (the record's `at`, ms), where the record says. */
  admittedAt: number | null;
}

/** A crash orphan whose record a Redis loss deleted at `lostAt`: its reservation and RPM slot went with it. */
export type LostOrphan = CrashOrphan & { lostAt: number };

/**
 * The Redis hold records with no hold row in Postgres, and those no crash explains: an api kill
 * (its hold named by an answer, or its key left with a request that got no answer) or a workers
 * kill (a key a batch was asked for on). `orphans` still live at the end; `lost`, those a Redis
 * loss deleted first (the journal kept them): no check sees their reservation any more, but each
 * held its key's RPM slot until the loss.
 */
export async function crashOrphans(
  ctx: Context,
  books: Books,
  world: World,
  journal: Journal,
): Promise<{ orphans: CrashOrphan[]; lost: LostOrphan[]; unexplained: string[] }> {
  const recorded = new Set(books.holds.map((h) => h.id));
  const apiKilled = journal.disruptions.some((d) => d.kind === 'api');
  const workersKilled = journal.disruptions.some((d) => d.kind === 'workers');
  const named = new Set(journal.sync.map((s) => s.holdId));
  const unanswered = new Set(journal.unanswered.map((u) => u.keyId));
  const orphans: CrashOrphan[] = [];
  const lost: LostOrphan[] = [];
  const unexplained: string[] = [];
  /** The orphan a record with no row is, or (no crash explains it) a failure line. */
  const judge = (
    name: string,
    { holdId, accountId }: { holdId: string; accountId: string },
    rec: { keyId: string; amount: bigint; at: number | null },
  ): CrashOrphan | null => {
    const byApi = apiKilled && (named.has(holdId) || unanswered.has(rec.keyId));
    const byWorkers = workersKilled && journal.batchKeys.has(rec.keyId);
    if (byApi || byWorkers)
      return {
        holdId,
        accountId,
        keyId: rec.keyId,
        amount: rec.amount,
        cause: byApi ? 'api' : 'workers',
        admittedAt: rec.at,
      };
    unexplained.push(`${name}: a hold record Postgres has no row for, and no crash explains it`);
    return null;
  };
  for (const account of world.accounts) {
    const prefix = ctx.keys.hold(account.id, '');
    for await (const names of ctx.redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<
      string[]
    >) {
      for (const name of names) {
        const ids = { holdId: name.slice(prefix.length), accountId: account.id };
        if (recorded.has(ids.holdId)) continue;
        const rec = await ctx.redis.hgetall(name);
        if (!rec.k || !rec.amt) continue; // released meanwhile
        const at = /^\d+$/.test(rec.at ?? '') ? Number(rec.at) : null;
        const orphan = judge(name, ids, { keyId: rec.k, amount: BigInt(rec.amt), at });
        if (orphan) orphans.push(orphan);
      }
    }
  }
  for (const rec of journal.lostHoldRecords) {
    const ids = idsOfRecord(rec.name);
    if (recorded.has(ids.holdId)) continue;
    const orphan = judge(rec.name, ids, rec);
    if (orphan) lost.push({ ...orphan, lostAt: rec.lostAt });
  }
  return { orphans, lost, unexplained };
}

/** The account an admission key names (`…{a:<account>}:…`, keys.ts). */
const accountOf = (name: string): string | undefined => /\{a:([^}]+)\}/.exec(name)?.[1];

/** The hold and account a record's Redis key names (`…{a:<account>}:h:<hold id>`, keys.hold). */
function idsOfRecord(name: string): { holdId: string; accountId: string } {
  return { holdId: name.slice(name.lastIndexOf(':h:') + 3), accountId: accountOf(name) ?? '' };
}

/** What the orphans reserve together, per child key and per account. */
export function orphanSums(orphans: readonly CrashOrphan[]): {
  byKey: Map<string, bigint>;
  byAccount: Map<string, bigint>;
} {
  const byKey = new Map<string, bigint>();
  const byAccount = new Map<string, bigint>();
  for (const o of orphans) {
    byKey.set(o.keyId, (byKey.get(o.keyId) ?? 0n) + o.amount);
    byAccount.set(o.accountId, (byAccount.get(o.accountId) ?? 0n) + o.amount);
  }
  return { byKey, byAccount };
}

/**
 * The reconciliation's drift the orphans account for: their own records (left to their TTL until
 * given back), and their key's counters and their account's balance tight by any amount. The check
 * counts what they reserve in what both should read (compare.ts) and repairs neither's tight side
 * while an orphan lives, so tightness a Redis loss left on them stays until it is given back. Never
 * loose: that is repaired.
 */
export function explainedByOrphans(d: DriftItem, orphans: readonly CrashOrphan[]): boolean {
  const { byKey, byAccount } = orphanSums(orphans);
  if (d.check === 'redis_hold_records') return orphans.some((o) => d.subject.endsWith(`:h:${o.holdId}`));
  if (!/^\d+$/.test(d.actual ?? '') || !/^\d+$/.test(d.expected ?? '')) return false;
  const off = BigInt(d.actual!) - BigInt(d.expected!);
  if (d.check === 'redis_counters') {
    const key = /:[dm]:([^:]+):\d+$/.exec(d.subject)?.[1];
    return key !== undefined && byKey.has(key) && off > 0n;
  }
  if (d.check === 'redis_balance') {
    const account = accountOf(d.subject);
    return account !== undefined && byAccount.has(account) && off < 0n;
  }
  return false;
}
