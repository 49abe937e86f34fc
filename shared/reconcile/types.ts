import type { RpmWindowEntry } from '../db/queries/rpm-window.js';

/** Reconciliation's vocabulary: what it checks, what it finds, how it repairs Redis. */

export const CHECKS = [
  'transfers_balanced',
  'ledger_balances',
  'available_non_negative',
  'holds_vs_jobs',
  'charges_vs_holds',
  'closed_periods',
  'usage_vs_holds',
  'redis_balance',
  'redis_counters',
  'redis_key_state',
  'redis_hold_records',
  'inference_queue',
  'batch_dispatch',
] as const;

export type CheckName = (typeof CHECKS)[number];

/** One difference between what is and what Postgres says should be. */
export interface DriftItem {
  check: CheckName;
  /** What is wrong, by its id or Redis key, so an operator can find it. */
  subject: string;
  message: string;
  expected?: string;
  actual?: string;
}

/** A write that brings one Redis value back to the book of record (applied in a WATCHed MULTI). */
export type Repair =
  | { kind: 'value'; key: string; value: string; ttlS: number }
  /** Replace a key-state hash whole. */
  | { kind: 'state'; key: string; fields: string[] }
  /**
   * A key whose Redis state is an older version than Postgres's (a change whose publish failed
   * after its commit: a deleted key still admitted): what setKeyState writes, `version` and the
   * field/value pairs, leaving `c` (loaded) as it is. Safe under live traffic, so the scheduled
   * check applies it too.
   */
  | { kind: 'newerState'; key: string; version: string; fields: string[] }
  /**
   * A hold record as admission writes it: amount, child key, admitted and deadline (ms), named in
   * the account's index of records (`index`).
   */
  | {
      kind: 'putHold';
      key: string;
      index: string;
      accountId: string;
      holdId: string;
      amount: string;
      keyId: string;
      admittedMs: number;
      deadlineMs: number;
      ttlS: number;
      /**
       * What the look saw in Redis before it read Postgres: the account's load epoch and the key's
       * counters' generation ('' for none). Off the watched path the record goes back only if
       * neither moved since (put-hold-record-5.lua).
       */
      seen: { epoch: string; generation: string };
    }
  /** A hold record's name put back in the account's index of records, which outlives it. */
  | { kind: 'indexHold'; index: string; holdId: string; ttlS: number }
  /** A hold record deleted, and its name taken out of the account's index of records. */
  | { kind: 'delHold'; key: string; index: string; holdId: string }
  /** Mark a credit the repaired balance counts, unless marked already (credit-balance-3.lua's marker). */
  | { kind: 'marker'; key: string; ttlS: number }
  /** Rebuild an RPM window that was absent when read (the WATCH keeps it so until EXEC). */
  | { kind: 'rpmWindow'; key: string; entries: RpmWindowEntry[] };

/**
 * A finding: `drift` is wrong state (reported, repaired by --fix); `missing` is state Redis simply
 * does not have yet, which admission would load lazily and --fix writes eagerly.
 */
export interface Finding extends DriftItem {
  kind: 'drift' | 'missing';
  repairs: Repair[];
}

export interface ReconcileReport {
  at: string;
  ok: boolean;
  /** Confirmed drift per check. */
  checks: Record<CheckName, number>;
  drift: DriftItem[];
  /** Differences seen on the quick first look but not on a consistent second one: traffic in flight. */
  unconfirmed: number;
  /**
   * Accounts whose first look showed differences but whose keys changed under every consistent
   * look (traffic too busy for a WATCH to hold): neither confirmed nor, with --fix, repaired. Not
   * drift (`ok` may be true), but not proven clean either: look again when they are quieter.
   */
  unchecked: string[];
  /**
   * Accounts whose Postgres figures are themselves wrong (a ledger balance that is not the sum of
   * its postings, usage rows that are not their posted holds): Redis is rebuilt from those figures,
   * so --fix leaves these accounts' Redis alone rather than copy the error into admission.
   */
  withheld: string[];
  /** With --fix: drift items repaired, and missing values written. */
  fixed: number;
  restored: number;
  scanned: { accounts: number; keys: number; holds: number; jobs: number };
}

export function emptyChecks(): Record<CheckName, number> {
  return Object.fromEntries(CHECKS.map((c) => [c, 0])) as Record<CheckName, number>;
}
