import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import { readStoredFile } from '../shared/batches/file-store.js';
import type { Context } from '../shared/context.js';
import type { FileRow } from '../shared/db/queries/files.js';

/**
 * A stored file's bytes as the answer (GET /v1/files/:id/content, and the owner's
 * /api/files/:id/content), a chunk at a time, each when the client has taken the last: a slow
 * reader holds one chunk.
 */
export async function sendFileContent(ctx: Context, res: Response, file: FileRow): Promise<void> {
  res.type('application/octet-stream').setHeader('content-length', file.bytes);
  try {
    await pipeline(Readable.from(readStoredFile(ctx.sql, file.id)), res);
  } catch (err) {
    // The client went away mid-file: nobody is left to answer.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  }
}
