import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineWriterFor } from '../../shared/batches/line-writer.js';
import { type AdmittedLine, insertBatchLines } from '../../shared/db/queries/batch-lines.js';
import { insertBatch } from '../../shared/db/queries/batches.js';
import { insertFile } from '../../shared/db/queries/files.js';
import { newId } from '../../shared/ids.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture, newHoldOf } from '../helpers/fixtures.js';

let env: TestEnv;
let k: KeyFixture;
beforeAll(async () => {
  env = await createTestEnv();
  k = await createKeyFixture(env.ctx);
});
afterAll(async () => {
  await env?.close();
});

/** A batch of `n` pending lines, straight into Postgres; returns the lines' job ids in order. */
async function pendingLines(n: number): Promise<string[]> {
  const at = new Date();
  const file = await insertFile(env.ctx.sql, {
    id: newId('file'),
    accountId: k.accountId,
    managementKeyId: k.mkId,
    purpose: 'batch',
    filename: 'in.jsonl',
    bytes: 0,
    lineCount: n,
    createdAt: at,
  });
  const batch = { id: newId('batch'), accountId: k.accountId, managementKeyId: k.mkId, childKeyId: k.key.id };
  await insertBatch(env.ctx.sql, {
    ...batch,
    inputFileId: file.id,
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    total: n,
    metadata: {},
    createdAt: at,
    expiresAt: new Date(at.getTime() + 86_400_000),
  });
  const ids = Array.from({ length: n }, () => newId('job'));
  await insertBatchLines(
    env.ctx.sql,
    { ...batch, createdAt: at },
    ids.map((id, i) => ({ id, customId: `c${i}`, lineNo: i + 1, model: 'm', request: { model: 'm' } })),
  );
  return ids;
}

const admitted = (id: string): AdmittedLine => ({
  id,
  request: { model: 'm', max_tokens: 7 },
  hold: newHoldOf(k, { requestId: id }),
});

describe('admitted batch lines written together', () => {
  it('queues each line still pending with its hold and request, and writes no hold for one that is not', async () => {
    const [a, b, c] = await pendingLines(3);
    await env.ctx.sql`update jobs set status = 'cancelled' where id = ${b!}`;
    const lines = [a!, b!, c!].map(admitted);
    // Added at once: they share one statement (GroupCommit), each caller gets its own answer.
    const queued = await Promise.all(lines.map((l) => lineWriterFor(env.ctx.sql).add(l)));
    expect(queued).toEqual([true, false, true]);

    const jobs = await env.ctx.sql<
      { id: string; status: string; hold_id: string | null; request: unknown }[]
    >`
      select id, status, hold_id, request from jobs where id = any(${[a!, b!, c!]}) order by line_no`;
    expect(jobs).toEqual([
      { id: a, status: 'queued', hold_id: lines[0]!.hold.id, request: { model: 'm', max_tokens: 7 } },
      { id: b, status: 'cancelled', hold_id: null, request: { model: 'm' } },
      { id: c, status: 'queued', hold_id: lines[2]!.hold.id, request: { model: 'm', max_tokens: 7 } },
    ]);
    const holds = await env.ctx.sql<{ id: string; request_id: string; status: string }[]>`
      select id, request_id, status from holds where request_id = any(${[a!, b!, c!]}) order by request_id`;
    expect(holds.map((h) => [h.request_id, h.status]).sort()).toEqual(
      [
        [a, 'open'],
        [c, 'open'],
      ].sort(),
    );
  });

  it('queues a line once: the second admission of the same line is refused', async () => {
    const [a] = await pendingLines(1);
    expect(await lineWriterFor(env.ctx.sql).add(admitted(a!))).toBe(true);
    expect(await lineWriterFor(env.ctx.sql).add(admitted(a!))).toBe(false);
    const [n] = await env.ctx.sql<
      { n: number }[]
    >`select count(*)::int as n from holds where request_id = ${a!}`;
    expect(n!.n).toBe(1);
  });
});
