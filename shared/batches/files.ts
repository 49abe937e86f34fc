import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { type FileRow, findFile, insertFile } from '../db/queries/files.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { visibleToKey } from '../jobs/visibility.js';
import { parseBatchInput } from './parse-jsonl.js';

/**
 * POST /v1/files: a batch input file is validated whole before it is stored, so a batch made from
 * it never meets a malformed line. It belongs to the uploading key's management key.
 */
export async function uploadBatchFile(
  ctx: Context,
  key: ChildKeyIdentity,
  f: { filename: string; content: Buffer },
): Promise<FileRow> {
  const lines = parseBatchInput(f.content);
  return insertFile(ctx.sql, {
    id: newId('file'),
    accountId: key.account_id,
    managementKeyId: key.management_key_id,
    purpose: 'batch',
    filename: f.filename.slice(0, 255) || 'input.jsonl',
    content: f.content,
    lineCount: lines.length,
    createdAt: ctx.clock.now(),
  });
}

/**
 * A file as a child key may see it: its management key's files (inputs and batch results alike);
 * for anyone else it does not exist.
 */
export async function findVisibleFile(ctx: Context, key: ChildKeyIdentity, id: string): Promise<FileRow> {
  const file = await findFile(ctx.sql, id);
  if (!visibleToKey(file, key)) throw ApiError.notFound('File');
  return file;
}
