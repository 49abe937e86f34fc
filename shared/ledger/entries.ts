import type { LedgerEntryRow } from '../db/queries/ledger-entries.js';

/**
 * A ledger entry at the edge (API.md): money is a non-negative string, so the sign travels as
 * `direction`. Ids are `le_<posting id>`.
 */
export function formatEntry(e: LedgerEntryRow) {
  return {
    id: `le_${e.id}`,
    kind: e.kind,
    direction: e.amount < 0n ? ('debit' as const) : ('credit' as const),
    amount_ngonka: (e.amount < 0n ? -e.amount : e.amount).toString(),
    balance_after_ngonka: e.balance_after.toString(),
    ref: e.ref,
    metadata: e.metadata,
    created_at: e.created_at.toISOString(),
  };
}

export type LedgerEntry = ReturnType<typeof formatEntry>;

export function parseEntryCursor(cursor: string): bigint | null {
  const m = /^le_(\d{1,19})$/.exec(cursor);
  return m?.[1] ? BigInt(m[1]) : null;
}
