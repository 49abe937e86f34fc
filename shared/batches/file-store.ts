import type { Db } from '../db/client.js';
import { insertFileChunk, readFileChunk } from '../db/queries/file-chunks.js';

/**
 * Bytes per stored chunk: what a process holds of a file at a time, reading or writing it. Chunks of
 * 1 MiB were as fast, but each passes through a hex string twice its size on its way to Postgres:
 * the api's RSS peaked ~50 MB higher storing a 100 MB file (`npm run bench:batch-file`).
 */
export const FILE_CHUNK_BYTES = 256 * 1024;

/**
 * Writes a file's bytes to Postgres as they come, in chunks of `chunkBytes` (the last one shorter),
 * so a 100 MB batch file costs a chunk of memory at a time, not the whole file. The file's row is written
 * after `end` in the same transaction (the chunks' key to it is checked at commit).
 */
export class FileChunkWriter {
  /** Bytes written so far (stored or waiting for a full chunk). */
  bytes = 0;
  private seq = 0;
  private parts: Buffer[] = [];
  private pending = 0;

  constructor(
    private readonly db: Db,
    readonly fileId: string,
    private readonly chunkBytes = FILE_CHUNK_BYTES,
  ) {}

  async write(data: Buffer | string): Promise<void> {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    this.parts.push(b);
    this.pending += b.length;
    this.bytes += b.length;
    if (this.pending < this.chunkBytes) return;
    // Joined once, then cut: a single large write is not copied once per chunk.
    const all = Buffer.concat(this.parts, this.pending);
    let at = 0;
    for (; all.length - at >= this.chunkBytes; at += this.chunkBytes)
      await insertFileChunk(this.db, this.fileId, this.seq++, all.subarray(at, at + this.chunkBytes));
    this.parts = at < all.length ? [all.subarray(at)] : [];
    this.pending = all.length - at;
  }

  /** Store what is left; returns the file's size in bytes. */
  async end(): Promise<number> {
    if (this.pending > 0) {
      await insertFileChunk(this.db, this.fileId, this.seq++, Buffer.concat(this.parts, this.pending));
      this.parts = [];
      this.pending = 0;
    }
    return this.bytes;
  }
}

/**
 * A stored file's bytes, a chunk at a time, each read by its own short query when it is wanted:
 * nothing is held between chunks (no cursor, no open transaction), and a caller that stops early
 * reads no more. Usable on a transaction too.
 */
export async function* readStoredFile(db: Db, fileId: string): AsyncGenerator<Buffer> {
  for (let seq = 0; ; seq++) {
    const data = await readFileChunk(db, fileId, seq);
    if (!data) return;
    yield data;
  }
}

/** Passes `source` on unchanged, writing each piece to `writer` first. */
export async function* writeThrough(
  source: AsyncIterable<Buffer>,
  writer: FileChunkWriter,
): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    await writer.write(piece);
    yield piece;
  }
}
