import type { Db } from '../client.js';

export type FilePurpose = 'batch' | 'batch_output';

/** A file's record; its bytes are its chunks (file-chunks.ts, batches/file-store.ts). */
export interface FileRow {
  id: string;
  account_id: string;
  management_key_id: string | null;
  purpose: FilePurpose;
  filename: string;
  bytes: number;
  line_count: number;
  created_at: Date;
  /** When the scheduler deletes it (OpenAI's `expires_after`); null: never. */
  expires_at: Date | null;
}

export interface NewFile {
  id: string;
  accountId: string;
  managementKeyId: string;
  purpose: FilePurpose;
  filename: string;
  bytes: number;
  lineCount: number;
  createdAt: Date;
  expiresAt?: Date | null;
}

const FILE_COLUMNS =
  'id, account_id, management_key_id, purpose, filename, bytes, line_count, created_at, expires_at';

/** The record of a file whose chunks were written in the same transaction. */
export async function insertFile(db: Db, f: NewFile): Promise<FileRow> {
  const [row] = await db<FileRow[]>`
    insert into files (${db.unsafe(FILE_COLUMNS)})
    values (${f.id}, ${f.accountId}, ${f.managementKeyId}, ${f.purpose}, ${f.filename}, ${f.bytes},
            ${f.lineCount}, ${f.createdAt}, ${f.expiresAt ?? null})
    returning ${db.unsafe(FILE_COLUMNS)}`;
  return row!;
}

/** First key of the advisory locks that take an account's uploads in turn at their commit. */
const UPLOAD_LOCK = 2003;

/**
 * A file the API still shows at `now`: not deleted, and not past its `expires_at` (the scheduler's
 * expire-files task deletes it within a minute or so; until then it is gone all the same, as a key
 * past its expiry is refused before the task marks it).
 */
const live = (db: Db, now: Date) => db`deleted_at is null and (expires_at is null or expires_at > ${now})`;

/**
 * Bytes of the account's stored batch input files (live at `now`). Inside a transaction, after
 * `lockAccountUploads`, no other upload of the account can commit until this one ends.
 */
export async function storedInputBytes(db: Db, accountId: string, now: Date): Promise<number> {
  const [row] = await db<{ bytes: number }[]>`
    select coalesce(sum(bytes), 0)::float8 as bytes from files
    where account_id = ${accountId} and purpose = 'batch' and ${live(db, now)}`;
  return row!.bytes;
}

/** Take the account's uploads in turn until the transaction ends (so two cannot both pass its limit). */
export async function lockAccountUploads(tx: Db, accountId: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(${UPLOAD_LOCK}, hashtext(${accountId}))`;
}

/** A file live at `now` (neither deleted nor expired), or null. */
export async function findFile(db: Db, id: string, now: Date): Promise<FileRow | null> {
  const [row] = await db<FileRow[]>`
    select ${db.unsafe(FILE_COLUMNS)} from files where id = ${id} and ${live(db, now)}`;
  return row ?? null;
}

/**
 * Hold a file (live at `now`) against deletion until the transaction ends, while it is read: false
 * if it is already gone.
 */
export async function lockFileForRead(db: Db, id: string, now: Date): Promise<boolean> {
  const rows = await db`select 1 from files where id = ${id} and ${live(db, now)} for share`;
  return rows.length === 1;
}

/**
 * Files live at `now`, newest first (or oldest with `order: 'asc'`): a management key's (what its
 * child keys list), or an account's across its management keys (the owner's), narrowed to one
 * management key if given. After the `afterId` file of the same scope in that order (OpenAI's
 * cursor; none if it is not in scope).
 */
export async function listFiles(
  db: Db,
  f: {
    scope: { managementKeyId: string } | { accountId: string; managementKeyId?: string };
    purpose?: FilePurpose;
    order: 'asc' | 'desc';
    afterId?: string;
    limit: number;
    now: Date;
  },
): Promise<FileRow[]> {
  const desc = f.order === 'desc';
  const { scope } = f;
  const inScope = db`${'accountId' in scope ? db`account_id = ${scope.accountId}` : db`true`}
    ${scope.managementKeyId ? db`and management_key_id = ${scope.managementKeyId}` : db``}`;
  const cursor = db`(select created_at, id from files where id = ${f.afterId ?? ''} and ${inScope})`;
  return db<FileRow[]>`
    select ${db.unsafe(FILE_COLUMNS)} from files
    where ${inScope} and ${live(db, f.now)}
      ${f.purpose ? db`and purpose = ${f.purpose}` : db``}
      ${f.afterId ? (desc ? db`and (created_at, id) < ${cursor}` : db`and (created_at, id) > ${cursor}`) : db``}
    order by ${desc ? db`created_at desc, id desc` : db`created_at, id`}
    limit ${f.limit}`;
}

/** Delete a file's bytes and mark its record deleted; false if it already was. */
export async function deleteFile(db: Db, id: string, at: Date): Promise<boolean> {
  const [row] = await db`
    with marked as (update files set deleted_at = ${at} where id = ${id} and deleted_at is null returning id),
    chunks as (delete from file_chunks where file_id in (select id from marked))
    select count(*)::int as n from marked`;
  return row!.n === 1;
}

/**
 * Delete up to `limit` files past their `expires_at` as DELETE /v1/files/:id does (bytes gone, record
 * marked); how many it deleted.
 */
export async function deleteExpiredFiles(db: Db, at: Date, limit: number): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    with due as (
      select id from files where deleted_at is null and expires_at <= ${at}
      order by expires_at limit ${limit} for update skip locked),
    marked as (update files set deleted_at = ${at} where id in (select id from due) returning id),
    chunks as (delete from file_chunks where file_id in (select id from marked))
    select count(*)::int as n from marked`;
  return row!.n;
}
