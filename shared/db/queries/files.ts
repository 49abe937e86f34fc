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
}

/** The record of a file whose chunks were written in the same transaction. */
export async function insertFile(db: Db, f: NewFile): Promise<FileRow> {
  const [row] = await db<FileRow[]>`
    insert into files (id, account_id, management_key_id, purpose, filename, bytes, line_count, created_at)
    values (${f.id}, ${f.accountId}, ${f.managementKeyId}, ${f.purpose}, ${f.filename}, ${f.bytes},
            ${f.lineCount}, ${f.createdAt})
    returning id, account_id, management_key_id, purpose, filename, bytes, line_count, created_at`;
  return row!;
}

export async function findFile(db: Db, id: string): Promise<FileRow | null> {
  const [row] = await db<FileRow[]>`
    select id, account_id, management_key_id, purpose, filename, bytes, line_count, created_at
    from files where id = ${id}`;
  return row ?? null;
}
