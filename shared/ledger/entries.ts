import type { ChargedRequestRow, LedgerEntryRow } from '../db/queries/ledger-entries.js';
import { completionId } from '../inference/white-label.js';
import type { EntryIds } from './entry-ids.js';

/**
 * A ledger entry at the edge (API.md): money is a non-negative string, so the sign travels as
 * `direction`. Its id is its posting's, made opaque (entry-ids.ts).
 */
export function formatEntry(e: LedgerEntryRow, ids: EntryIds) {
  return {
    id: ids.encode(BigInt(e.id)),
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

/**
 * A request a charge billed, named as its client knows it: an async job or batch line by its job
 * id, a synchronous chat request by the completion id it was answered with.
 */
export function formatChargedRequest(r: ChargedRequestRow) {
  return {
    id: r.request_id.startsWith('job_') ? r.request_id : completionId(r.hold_id),
    key_id: r.child_key_id,
    model: r.model,
    prompt_tokens: r.prompt_tokens,
    completion_tokens: r.completion_tokens,
    cost_ngonka: r.posted_amount.toString(),
    created_at: r.created_at.toISOString(),
  };
}
