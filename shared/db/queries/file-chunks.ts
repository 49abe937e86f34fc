import type { Db } from '../client.js';

/** One piece of a file's bytes; a file is its chunks in `seq` order (0, 1, 2, …). */
export async function insertFileChunk(db: Db, fileId: string, seq: number, data: Buffer): Promise<void> {
  await db`insert into file_chunks (file_id, seq, data) values (${fileId}, ${seq}, ${data})`;
}

export async function readFileChunk(db: Db, fileId: string, seq: number): Promise<Buffer | null> {
  const [row] = await db<{ data: Buffer }[]>`
    select data from file_chunks where file_id = ${fileId} and seq = ${seq}`;
  return row?.data ?? null;
}
