import type { Db } from '../client.js';

export type FilePurpose = 'batch' | 'batch_output';

/** A file without its content (which is read only by the routes and code that need it). */
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
  content: Buffer;
  lineCount: number;
  createdAt: Date;
}

export async function insertFile(db: Db, f: NewFile): Promise<FileRow> {
  const [row] = await db<FileRow[]>`
    insert into files (id, account_id, management_key_id, purpose, filename, bytes, content, line_count, created_at)
    values (${f.id}, ${f.accountId}, ${f.managementKeyId}, ${f.purpose}, ${f.filename}, ${f.content.length},
            ${f.content}, ${f.lineCount}, ${f.createdAt})
    returning id, account_id, management_key_id, purpose, filename, bytes, line_count, created_at`;
  return row!;
}

export async function findFile(db: Db, id: string): Promise<FileRow | null> {
  const [row] = await db<FileRow[]>`
    select id, account_id, management_key_id, purpose, filename, bytes, line_count, created_at
    from files where id = ${id}`;
  return row ?? null;
}

export async function readFileContent(db: Db, id: string): Promise<Buffer | null> {
  const [row] = await db<{ content: Buffer }[]>`select content from files where id = ${id}`;
  return row?.content ?? null;
}
