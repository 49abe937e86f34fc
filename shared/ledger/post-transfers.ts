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

export interface PostedTransfer {
  transferId: bigint;
  postings: { postingId: bigint; account: string; amount: bigint; balanceAfter: bigint }[];
}

export class UnbalancedTransferError extends Error {
  override name = 'UnbalancedTransferError';
}

/**
 * Post many transfers in the caller's transaction, with one lock and one balance write per ledger
 * account however many transfers touch it: the batching that keeps a hot balance row (a busy
 * customer, the revenue account) from limiting settlement throughput. Returns null for a transfer
 * whose kind+ref was already posted (exactly-once).
 */
export async function postTransfers(
  tx: TxSql,
  drafts: TransferDraft[],
  at: Date,
): Promise<(PostedTransfer | null)[]> {
  for (const d of drafts) {
    const sum = d.legs.reduce((s, l) => s + l.amount, 0n);
    if (sum !== 0n) throw new UnbalancedTransferError(`transfer ${d.kind}/${d.ref} sums to ${sum}`);
  }
  const ids = await insertTransfers(
    tx,
    drafts.map((d) => ({ kind: d.kind, ref: d.ref, metadata: d.metadata ?? {}, createdAt: at })),
  );
  const fresh = drafts.flatMap((d, i) => (ids[i] == null ? [] : [{ draft: d, index: i }]));
  if (fresh.length === 0) return drafts.map(() => null);

  const balances = await lockLedgerAccounts(
    tx,
    fresh.flatMap((f) => f.draft.legs.map((l) => l.account)),
  );
  const postings: NewPosting[] = [];
  const transferIds: bigint[] = [];
  const firstPosting: number[] = [];
  for (const [t, f] of fresh.entries()) {
    transferIds.push(ids[f.index]!);
    firstPosting.push(postings.length);
    for (const leg of f.draft.legs) {
      if (leg.amount === 0n) continue;
      const current = balances.get(leg.account);
      if (current === undefined) throw new Error(`ledger account ${leg.account} does not exist`);
      const after = current + leg.amount;
      balances.set(leg.account, after);
      postings.push({ transfer: t, ledgerAccountId: leg.account, amount: leg.amount, balanceAfter: after });
    }
  }
  const postingIds = await insertPostings(tx, transferIds, postings, at);
  await setLedgerBalances(tx, balances);

  const out: (PostedTransfer | null)[] = drafts.map(() => null);
  for (const [t, f] of fresh.entries()) {
    const from = firstPosting[t]!;
    const to = firstPosting[t + 1] ?? postings.length;
    out[f.index] = {
      transferId: transferIds[t]!,
      postings: postings.slice(from, to).map((x, j) => ({
        postingId: postingIds[from + j]!,
        account: x.ledgerAccountId,
        amount: x.amount,
        balanceAfter: x.balanceAfter,
      })),
    };
  }
  return out;
}
