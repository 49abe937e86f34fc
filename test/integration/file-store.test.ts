import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileChunkWriter, readStoredFile } from '../../shared/batches/file-store.js';
import type { Db } from '../../shared/db/client.js';
import { insertFile } from '../../shared/db/queries/files.js';
import { newId } from '../../shared/ids.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';

let env: TestEnv;
let owner: KeyFixture;
beforeAll(async () => {
  env = await createTestEnv();
  owner = await createKeyFixture(env.ctx);
});
afterAll(async () => {
  await env?.close();
});

const fileRow = (db: Db, id: string, bytes: number) =>
  insertFile(db, {
    id,
    accountId: owner.accountId,
    managementKeyId: owner.mkId,
    purpose: 'batch',
    filename: 'f.jsonl',
    bytes,
    lineCount: 1,
    createdAt: new Date(),
  });

async function readAll(id: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of readStoredFile(env.ctx.sql, id)) pieces.push(piece);
  return Buffer.concat(pieces);
}

const chunkSizes = async (id: string) =>
  (
    await env.ctx.sql<{ n: number }[]>`
      select length(data) as n from file_chunks where file_id = ${id} order by seq`
  ).map((r) => r.n);

describe('files stored in chunks', () => {
  it('cuts whatever it is written into chunks of the chunk size, and reads back the same bytes', async () => {
    const content = randomBytes(10_500);
    // Empty, tiny, chunk-straddling and several-chunk writes, as an upload's reads or result lines come.
    const writes = [0, 1, 998, 1, 1, 3_500, 0, 17, 5_000, 982];
    expect(writes.reduce((a, b) => a + b)).toBe(content.length);
    const id = newId('file');
    const bytes = await env.ctx.sql.begin(async (tx) => {
      const w = new FileChunkWriter(tx, id, 1000);
      let at = 0;
      for (const n of writes) {
        await w.write(content.subarray(at, at + n));
        at += n;
      }
      const size = await w.end();
      await fileRow(tx, id, size);
      return size;
    });
    expect(bytes).toBe(content.length);
    expect(await chunkSizes(id)).toEqual([...Array(10).fill(1000), 500]);
    expect((await readAll(id)).equals(content)).toBe(true);
  });

  it('writes strings as UTF-8 and stores nothing for a file that got nothing', async () => {
    const id = newId('file');
    await env.ctx.sql.begin(async (tx) => {
      const w = new FileChunkWriter(tx, id, 4);
      await w.write('rivière 🌊\n');
      expect(await w.end()).toBe(Buffer.byteLength('rivière 🌊\n'));
      await fileRow(tx, id, 14);
    });
    expect((await readAll(id)).toString('utf8')).toBe('rivière 🌊\n');
    const empty = newId('file');
    await env.ctx.sql.begin(async (tx) => {
      expect(await new FileChunkWriter(tx, empty).end()).toBe(0);
      await fileRow(tx, empty, 0);
    });
    expect(await chunkSizes(empty)).toEqual([]);
    expect(await readAll(empty)).toHaveLength(0);
  });

  it('refuses at commit the chunks of a file whose row was never written', async () => {
    const id = newId('file');
    const orphan = env.ctx.sql.begin(async (tx) => {
      const w = new FileChunkWriter(tx, id, 10);
      await w.write('0123456789abcdef');
      await w.end();
    });
    await expect(orphan).rejects.toMatchObject({ code: '23503' }); // foreign_key_violation
    expect(await chunkSizes(id)).toEqual([]);
  });
});
