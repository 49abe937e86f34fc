import type { Context } from '../context.js';
import type { Db } from '../db/client.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import {
  deleteFile,
  type FileRow,
  findFile,
  insertFile,
  lockAccountUploads,
  storedInputBytes,
} from '../db/queries/files.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { visibleToKey } from '../jobs/visibility.js';
import { expiresAfter } from './file-expiry.js';
import { FileChunkWriter, writeThrough } from './file-store.js';
import { batchInputLines } from './parse-jsonl.js';

/**
 * POST /v1/files: a batch input file is validated line by line as it is stored, chunk by chunk, in
 * one transaction: a bad line rolls all of it back, so a batch made from a stored file never meets
 * a malformed line. It belongs to the uploading key's management key.
 */
export async function uploadBatchFile(
  ctx: Context,
  key: ChildKeyIdentity,
  f: { filename: string; content: AsyncIterable<Buffer>; expiresAfterSeconds?: number | null },
): Promise<FileRow> {
  const id = newId('file');
  return ctx.sql.begin(async (tx) => {
    const writer = new FileChunkWriter(tx, id);
    let lineCount = 0;
    for await (const _ of batchInputLines(writeThrough(f.content, writer))) lineCount++;
    const bytes = await writer.end();
    await lockAccountUploads(tx, key.account_id);
    await checkStorageRoom(ctx, tx, key.account_id, bytes);
    return insertFile(tx, {
      id,
      accountId: key.account_id,
      managementKeyId: key.management_key_id,
      purpose: 'batch',
      filename: f.filename.slice(0, 255) || 'input.jsonl',
      bytes,
      lineCount,
      createdAt: ctx.clock.now(),
      expiresAt: expiresAfter(ctx.clock.now(), f.expiresAfterSeconds),
    });
  });
}

/**
 * Refuse an upload of `bytes` more that would take the account's stored batch input files past
 * FILES_MAX_BYTES_PER_ACCOUNT (0 more: whether it is already full, before an upload is received).
 */
export async function checkStorageRoom(ctx: Context, db: Db, accountId: string, bytes = 0): Promise<void> {
  const limit = ctx.config.FILES_MAX_BYTES_PER_ACCOUNT;
  const stored = await storedInputBytes(db, accountId, ctx.clock.now());
  if (stored + Math.max(bytes, 1) > limit)
    throw new ApiError(
      'invalid_request_error',
      `File storage limit reached: an account's stored batch input files may take at most ${limit} bytes` +
        `${bytes ? ` and this file is ${bytes}` : ''}; delete files it no longer needs (DELETE /v1/files/:id)`,
      { param: 'file', code: 'storage_limit_exceeded' },
    );
}

/**
 * A file as a child key may see it: its management key's files (inputs and batch results alike);
 * for anyone else it does not exist.
 */
export async function findVisibleFile(ctx: Context, key: ChildKeyIdentity, id: string): Promise<FileRow> {
  const file = await findFile(ctx.sql, id, ctx.clock.now());
  if (!visibleToKey(file, key)) throw ApiError.notFound('File');
  return file;
}

/** A file of the owner's account (any of its management keys'); for anyone else it does not exist. */
export async function findOwnerFile(ctx: Context, accountId: string, id: string): Promise<FileRow> {
  const file = await findFile(ctx.sql, id, ctx.clock.now());
  if (file?.account_id !== accountId) throw ApiError.notFound('File');
  return file;
}

/**
 * DELETE /v1/files/:id (and the owner's /api/files/:id): the file's bytes go, its record stays for
 * the batches that name it, and for the API it is gone. Batches made from it are not touched (their
 * lines were copied at creation).
 */
export async function removeFile(ctx: Context, file: FileRow): Promise<void> {
  if (!(await deleteFile(ctx.sql, file.id, ctx.clock.now()))) throw ApiError.notFound('File');
}
