import type { TxSql } from '../db/client.js';
import { lockLedgerAccounts, setLedgerBalances } from '../db/queries/ledger-accounts.js';
import {
  insertPostings,
  insertTransfers,
  type NewPosting,
  type TransferKind,
} from '../db/queries/transfers.js';

export interface TransferDraft {
  kind: TransferKind;
  /** Unique per kind: a top-up reference, a request id. Posting the same kind+ref twice is a no-op. */
  ref: string;
  metadata?: Record<string, unknown>;
  /** Signed amounts per ledger account; they must sum to zero. Zero legs are dropped. */
  legs: { account: string; amount: bigint }[];
}

export class UnbalancedTransferError extends Error {
  override name = 'UnbalancedTransferError';
}

/**
 * Post many transfers in the caller's transaction, with one lock and one balance write per ledger
 * account however many transfers touch it: the batching that keeps a hot balance row (a busy
 * customer, the revenue account) from limiting settlement throughput. Two round trips: the
 * transfers and the account locks go out together, then the postings and the balances. Returns
 * each transfer's id, or null where its kind+ref was already posted (exactly-once).
 */
export async function postTransfers(
  tx: TxSql,
  drafts: TransferDraft[],
  at: Date,
): Promise<(bigint | null)[]> {
  for (const d of drafts) {
    const sum = d.legs.reduce((s, l) => s + l.amount, 0n);
    if (sum !== 0n) throw new UnbalancedTransferError(`transfer ${d.kind}/${d.ref} sums to ${sum}`);
  }
  if (drafts.length === 0) return [];
  // Locking the accounts of a transfer that turns out to exist already is harmless; waiting for the
  // insert's answer before locking would cost a round trip.
  const [ids, balances] = await Promise.all([
    insertTransfers(
      tx,
      drafts.map((d) => ({ kind: d.kind, ref: d.ref, metadata: d.metadata ?? {}, createdAt: at })),
    ),
    lockLedgerAccounts(
      tx,
      drafts.flatMap((d) => d.legs.map((l) => l.account)),
    ),
  ]);

  const postings: NewPosting[] = [];
  const transferIds: bigint[] = [];
  const changed = new Map<string, bigint>();
  for (const [i, d] of drafts.entries()) {
    const id = ids[i];
    if (id == null) continue;
    const t = transferIds.push(id) - 1;
    for (const leg of d.legs) {
      if (leg.amount === 0n) continue;
      const current = changed.get(leg.account) ?? balances.get(leg.account);
      if (current === undefined) throw new Error(`ledger account ${leg.account} does not exist`);
      const after = current + leg.amount;
      changed.set(leg.account, after);
      postings.push({ transfer: t, ledgerAccountId: leg.account, amount: leg.amount, balanceAfter: after });
    }
  }
  await Promise.all([insertPostings(tx, transferIds, postings, at), setLedgerBalances(tx, changed)]);
  return ids;
}
