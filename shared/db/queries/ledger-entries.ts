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

/** A posting and its transfer as an entry (LedgerEntryRow), from `postings p join transfers t`. */
const ENTRY_COLUMNS = 'p.id, t.kind, p.amount, p.balance_after, t.ref, t.metadata, p.created_at';

/** One account's postings, newest first, keyset-paginated by posting id. */
export async function listLedgerEntries(
  db: Db,
  ledgerAccountId: string,
  opts: { before?: bigint; limit: number },
): Promise<LedgerEntryRow[]> {
  return db<LedgerEntryRow[]>`
    select ${db.unsafe(ENTRY_COLUMNS)}
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
    select ${db.unsafe(ENTRY_COLUMNS)}, p.ledger_account_id
    from transfers t join postings p on p.transfer_id = t.id
    join ledger_accounts l on l.id = p.ledger_account_id and l.kind = 'customer'
    where t.kind = ${kind} and t.ref = ${ref}`;
  return row ?? null;
}

/** One posting of one account's statement (its entry id decoded: entry-ids.ts); null when it is not that account's. */
export async function findLedgerEntry(
  db: Db,
  ledgerAccountId: string,
  id: bigint,
): Promise<LedgerEntryRow | null> {
  const [row] = await db<LedgerEntryRow[]>`
    select ${db.unsafe(ENTRY_COLUMNS)}
    from postings p join transfers t on t.id = p.transfer_id
    where p.id = ${id.toString()} and p.ledger_account_id = ${ledgerAccountId}`;
  return row ?? null;
}

/** A request a charge billed, from its hold. */
export interface ChargedRequestRow {
  hold_id: string;
  request_id: string;
  child_key_id: string;
  model: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  posted_amount: bigint;
  created_at: Date;
}

/**
 * The requests one charge of the account billed, oldest first: the holds naming it, or, for a charge
 * booked before charges covered a settlement batch (migration 010), the one request it is named for.
 */
export async function listChargedRequests(
  db: Db,
  accountId: string,
  ref: string,
): Promise<ChargedRequestRow[]> {
  return db<ChargedRequestRow[]>`
    select id as hold_id, request_id, child_key_id, model, prompt_tokens, completion_tokens, posted_amount, created_at
    from holds
    where account_id = ${accountId} and status = 'posted'
      and (charge_ref = ${ref} or (charge_ref is null and request_id = ${ref}))
    order by created_at, id`;
}

/**
 * The referral credits of the charges that billed these holds (each referrer's leg of each
 * referral transfer), committed after `since`: what a settlement retried after its commit sends to
 * Redis again.
 */
export async function referralCreditsOfHolds(
  db: Db,
  holdIds: string[],
  since: Date,
): Promise<{ account: string; amount: bigint; ref: string }[]> {
  if (holdIds.length === 0) return [];
  return db`
    select p.ledger_account_id as account, p.amount, t.ref
    from transfers t join postings p on p.transfer_id = t.id and p.amount > 0
    where t.kind = 'referral' and t.created_at > ${since}
      and t.ref in (select distinct charge_ref from holds
                    where id = any(${holdIds}::text[]) and charge_ref is not null)`;
}
