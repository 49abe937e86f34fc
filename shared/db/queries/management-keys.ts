import type { Db } from '../client.js';

export type ManagementKeyStatus = 'active' | 'disabled' | 'revoked';

export interface ManagementKeyRow {
  id: string;
  account_id: string;
  name: string;
  key_prefix: string;
  status: ManagementKeyStatus;
  version: bigint;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  /** Until when the secret its last rotation replaced still works (null or past: it does not). */
  previous_key_expires_at: Date | null;
}

/** A management key as lists show it: with the number of its children that are not deleted. */
export interface ManagementKeyListRow extends ManagementKeyRow {
  children_count: number;
}

const COLUMNS =
  'id, account_id, name, key_prefix, status, version, created_at, last_used_at, revoked_at, previous_key_expires_at';

export interface NewManagementKey {
  id: string;
  accountId: string;
  name: string;
  keyHash: Buffer;
  keyPrefix: string;
  /** From the context clock, like every other timestamp the gateway writes. */
  createdAt: Date;
}

export async function insertManagementKey(db: Db, k: NewManagementKey): Promise<ManagementKeyRow> {
  const [row] = await db<ManagementKeyRow[]>`
    insert into management_keys (id, account_id, name, key_hash, key_prefix, created_at)
    values (${k.id}, ${k.accountId}, ${k.name}, ${k.keyHash}, ${k.keyPrefix}, ${k.createdAt})
    returning ${db.unsafe(COLUMNS)}`;
  if (!row) throw new Error('insert into management_keys returned no row');
  return row;
}

/** First key of the advisory locks that take an account's key creations in turn (a count, then an insert). */
const KEY_CREATION_LOCK = 2003;

/**
 * How many keys the owner has that count against its cap: the account's management keys not
 * revoked, or (with `parent`) that management key's children not deleted. Takes the transaction's
 * turn first, so two creations at once cannot both pass the count. Call inside a transaction.
 */
export async function countKeysInTurn(tx: Db, accountId: string, parent?: string): Promise<number> {
  await tx`select pg_advisory_xact_lock(${KEY_CREATION_LOCK}, hashtext(${parent ?? accountId}))`;
  const [row] = parent
    ? await tx<{ n: number }[]>`
        select count(*)::int as n from child_keys where management_key_id = ${parent} and status <> 'deleted'`
    : await tx<{ n: number }[]>`
        select count(*)::int as n from management_keys where account_id = ${accountId} and status <> 'revoked'`;
  return row!.n;
}

/** Counts only live children: deleted ones are kept for audit but no longer belong to the key. */
const CHILDREN_COUNT = `(select count(*)::int from child_keys c
  where c.management_key_id = m.id and c.status <> 'deleted') as children_count`;

export async function listManagementKeys(db: Db, accountId: string): Promise<ManagementKeyListRow[]> {
  return db<ManagementKeyListRow[]>`
    select ${db.unsafe(COLUMNS)}, ${db.unsafe(CHILDREN_COUNT)}
    from management_keys m
    where account_id = ${accountId}
    order by created_at desc, id desc`;
}

/** One key of this account, or null (another account's key is indistinguishable from none). */
export async function findManagementKey(
  db: Db,
  accountId: string,
  id: string,
): Promise<ManagementKeyListRow | null> {
  const [row] = await db<ManagementKeyListRow[]>`
    select ${db.unsafe(COLUMNS)}, ${db.unsafe(CHILDREN_COUNT)}
    from management_keys m
    where account_id = ${accountId} and id = ${id}`;
  return row ?? null;
}

/**
 * Lock the key for the rest of the transaction. `for update` makes a concurrent PATCH/revoke wait, so
 * a change is always applied to the state it was checked against.
 */
export async function lockManagementKey(
  db: Db,
  accountId: string,
  id: string,
  mode: 'update' | 'share',
): Promise<ManagementKeyRow | null> {
  const lock = mode === 'update' ? db.unsafe('for update') : db.unsafe('for share');
  const [row] = await db<ManagementKeyRow[]>`
    select ${db.unsafe(COLUMNS)} from management_keys
    where account_id = ${accountId} and id = ${id} ${lock}`;
  return row ?? null;
}

/** Writes name and status; the version moves in the same statement so Redis can order the change. */
export async function updateManagementKey(
  db: Db,
  id: string,
  next: { name: string; status: 'active' | 'disabled' },
): Promise<ManagementKeyRow> {
  const [row] = await db<ManagementKeyRow[]>`
    update management_keys
    set name = ${next.name}, status = ${next.status}, version = version + 1
    where id = ${id} and status <> 'revoked'
    returning ${db.unsafe(COLUMNS)}`;
  if (!row) throw new Error(`management key ${id} vanished or was revoked while locked`);
  return row;
}

/** Soft revoke. Null when the key is not this account's or already revoked (nothing changed). */
export async function revokeManagementKey(
  db: Db,
  accountId: string,
  id: string,
  at: Date,
): Promise<ManagementKeyRow | null> {
  const [row] = await db<ManagementKeyRow[]>`
    update management_keys
    set status = 'revoked', revoked_at = ${at}, version = version + 1
    where account_id = ${accountId} and id = ${id} and status <> 'revoked'
    returning ${db.unsafe(COLUMNS)}`;
  return row ?? null;
}

/**
 * Give a locked management key a new secret (its rotation); the one replaced works on until
 * `previousUntil` (now: at once), then only to be told apart (findManagementKeyByHash reads it as
 * revoked). Its children and their keys stay.
 */
export async function rotateManagementKeySecret(
  db: Db,
  id: string,
  next: { keyHash: Buffer; keyPrefix: string; previousUntil: Date },
): Promise<void> {
  const { count } = await db`
    update management_keys set previous_key_hash = key_hash, key_hash = ${next.keyHash}, key_prefix = ${next.keyPrefix},
      previous_key_expires_at = ${next.previousUntil}
    where id = ${id}`;
  if (count !== 1) throw new Error(`management key ${id} vanished while locked`);
}
