import type { Db } from '../client.js';

export type TransferKind = 'topup' | 'charge' | 'referral' | 'adjustment';

export interface NewTransfer {
  kind: TransferKind;
  ref: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
}

export interface NewPosting {
  /** Index into the transfers inserted in the same call. */
  transfer: number;
  ledgerAccountId: string;
  amount: bigint;
  balanceAfter: bigint;
}

/**
 * Insert transfers (skipping any whose kind+ref already exists) in one statement. Returns the new
 * id per input index, or null where the transfer already existed.
 */
export async function insertTransfers(db: Db, transfers: NewTransfer[]): Promise<(bigint | null)[]> {
  if (transfers.length === 0) return [];
  const rows = await db<{ id: bigint; kind: string; ref: string }[]>`
    insert into transfers (kind, ref, metadata, created_at)
    select kind, ref, metadata::jsonb, created_at
    from unnest(${transfers.map((t) => t.kind)}::text[], ${transfers.map((t) => t.ref)}::text[],
                ${transfers.map((t) => JSON.stringify(t.metadata))}::text[],
                ${transfers.map((t) => t.createdAt.toISOString())}::timestamptz[]) as t(kind, ref, metadata, created_at)
    on conflict (kind, ref) do nothing
    returning id, kind, ref`;
  const ids = new Map(rows.map((r) => [`${r.kind}\u0000${r.ref}`, r.id]));
  return transfers.map((t) => ids.get(`${t.kind}\u0000${t.ref}`) ?? null);
}

export async function insertPostings(
  db: Db,
  transferIds: bigint[],
  postings: NewPosting[],
  at: Date,
): Promise<void> {
  if (postings.length === 0) return;
  await db`
    insert into postings (transfer_id, ledger_account_id, amount, balance_after, created_at)
    select transfer_id, account, amount, balance_after, ${at}
    from unnest(${postings.map((p) => String(transferIds[p.transfer]))}::bigint[],
                ${postings.map((p) => p.ledgerAccountId)}::text[],
                ${postings.map((p) => p.amount.toString())}::bigint[],
                ${postings.map((p) => p.balanceAfter.toString())}::bigint[])
         with ordinality as p(transfer_id, account, amount, balance_after, ord)
    order by ord`;
}
