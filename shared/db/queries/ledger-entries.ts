import type { Db } from '../client.js';
import type { TransferKind } from './transfers.js';

export interface LedgerEntryRow {
  id: bigint;
  kind: TransferKind;
  amount: bigint;
  balance_after: bigint;
  ref: string;
  metadata: Record<string, unknown>;
  created_at: Date;
}

/** One account's postings, newest first, keyset-paginated by posting id. */
export async function listLedgerEntries(
  db: Db,
  ledgerAccountId: string,
  opts: { before?: bigint; limit: number },
): Promise<LedgerEntryRow[]> {
  return db<LedgerEntryRow[]>`
    select p.id, t.kind, p.amount, p.balance_after, t.ref, t.metadata, p.created_at
    from postings p join transfers t on t.id = p.transfer_id
    where p.ledger_account_id = ${ledgerAccountId}
      ${opts.before === undefined ? db`` : db`and p.id < ${opts.before.toString()}`}
    order by p.id desc
    limit ${opts.limit}`;
}

/** The posting of one transfer on one account (a top-up's customer side). */
export async function findEntryByRef(
  db: Db,
  kind: TransferKind,
  ref: string,
): Promise<(LedgerEntryRow & { ledger_account_id: string }) | null> {
  const [row] = await db<(LedgerEntryRow & { ledger_account_id: string })[]>`
    select p.id, t.kind, p.amount, p.balance_after, t.ref, t.metadata, p.created_at, p.ledger_account_id
    from transfers t join postings p on p.transfer_id = t.id
    join ledger_accounts l on l.id = p.ledger_account_id and l.kind = 'customer'
    where t.kind = ${kind} and t.ref = ${ref}`;
  return row ?? null;
}
