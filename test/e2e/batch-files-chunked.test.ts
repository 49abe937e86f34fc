import { describe, expect, it } from 'vitest';
import { FILE_CHUNK_BYTES } from '../../shared/batches/file-store.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A batch file of a few mebibytes goes in, through a batch and out again in chunks (see
 * batches/file-store.ts): no step holds it whole, and nothing about it changes on the way.
 */
const MAX_BYTES = 4 * 1024 * 1024;
const stack = useTestStack({ env: { BATCH_FILE_MAX_BYTES: String(MAX_BYTES) } });

const LINES = 2_600;
/** ~1 KB a line with a two-byte character in each, so chunk boundaries fall inside lines and characters. */
const line = (i: number) =>
  JSON.stringify({
    custom_id: `req-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: SIM_MODEL_QWQ_32B,
      messages: [{ role: 'user', content: `${'é'.repeat(480)} ${i}` }],
      max_tokens: 5,
    },
  });
const bigFile = (lines: string[]) => Buffer.from(`${lines.join('\n')}\n`);

async function upload(key: string, content: Buffer) {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([new Uint8Array(content)]), 'big.jsonl');
  const res = await fetch(`${stack.server.url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function download(key: string, fileId: string) {
  const res = await fetch(`${stack.server.url}/v1/files/${fileId}/content`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { length: Number(res.headers.get('content-length')), bytes: Buffer.from(await res.arrayBuffer()) };
}

const chunkSizes = async (fileId: string) =>
  (
    await stack.env.ctx.sql<{ n: number }[]>`
      select length(data) as n from file_chunks where file_id = ${fileId} order by seq`
  ).map((r) => r.n);

describe('batch files larger than a chunk', () => {
  it('stores an upload in chunks and serves it back byte for byte', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const content = bigFile(Array.from({ length: LINES }, (_, i) => line(i + 1)));
    expect(content.length).toBeGreaterThan(2 * FILE_CHUNK_BYTES);

    const file = await upload(c.childKey, content);
    expect(file.status).toBe(200);
    expect(file.body).toMatchObject({ object: 'file', bytes: content.length, purpose: 'batch' });
    const whole = Math.floor(content.length / FILE_CHUNK_BYTES);
    expect(await chunkSizes(file.body.id)).toEqual([
      ...Array(whole).fill(FILE_CHUNK_BYTES),
      content.length - whole * FILE_CHUNK_BYTES,
    ]);
    const back = await download(c.childKey, file.body.id);
    expect(back.length).toBe(content.length);
    expect(back.bytes.equals(content)).toBe(true);
  });

  it(`refuses a file over BATCH_FILE_MAX_BYTES (${MAX_BYTES} here) with a 413, and keeps none of it`, async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const lines = Array.from({ length: LINES * 2 }, (_, i) => line(i + 1));
    const content = bigFile(lines);
    expect(content.length).toBeGreaterThan(MAX_BYTES);
    const res = await upload(c.childKey, content);
    expect(res.status).toBe(413);
    expect(res.body.error.type).toBe('payload_too_large');
    expect(res.body.error.message).toContain(String(MAX_BYTES));
    const [files] = await stack.env.ctx
      .sql`select count(*)::int as n from files where account_id = ${c.accountId}`;
    expect(files!.n).toBe(0);
    // Just under the limit is taken.
    const fits = bigFile(lines.slice(0, Math.floor((MAX_BYTES / content.length) * lines.length) - 1));
    expect((await upload(c.childKey, fits)).status).toBe(200);
  });

  it('refuses the whole file for a bad line past the first chunk, and keeps none of it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const lines = Array.from({ length: LINES }, (_, i) => line(i + 1));
    lines[1999] = lines[1999]!.replace('"method":"POST"', '"method":"GET"');
    const chunksBefore = await stack.env.ctx.sql`select 1 from file_chunks`;
    const res = await upload(c.childKey, bigFile(lines));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'file' });
    expect(res.body.error.message).toMatch(/^Line 2000: method/);
    const [files] = await stack.env.ctx
      .sql`select count(*)::int as n from files where account_id = ${c.accountId}`;
    expect(files!.n).toBe(0);
    expect((await stack.env.ctx.sql`select 1 from file_chunks`).length).toBe(chunksBefore.length);
  });

  it('makes a batch of every line of a multi-chunk file, in order, and writes each to its result file', async () => {
    // No balance: every line is refused for money when dispatched (or cancelled first), so all
    // of them end in the error file and none run.
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 0n });
    const file = await upload(c.childKey, bigFile(Array.from({ length: LINES }, (_, i) => line(i + 1))));
    expect(file.status).toBe(200);
    const created = await call(stack.server.url, 'POST', '/v1/batches', {
      token: c.childKey,
      body: { input_file_id: file.body.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    expect(created.status).toBe(200);
    expect(created.body.request_counts.total).toBe(LINES);
    const stored = await stack.env.ctx.sql<{ custom_id: string; line_no: number }[]>`
      select custom_id, line_no from jobs where batch_id = ${created.body.id} order by line_no`;
    expect(stored).toHaveLength(LINES);
    expect(stored.every((l, i) => l.line_no === i + 1 && l.custom_id === `req-${i + 1}`)).toBe(true);

    await call(stack.server.url, 'POST', `/v1/batches/${created.body.id}/cancel`, { token: c.childKey });
    const done = await waitFor(
      'batch ended',
      async () => {
        const b = await call(stack.server.url, 'GET', `/v1/batches/${created.body.id}`, {
          token: c.childKey,
        });
        return ['cancelled', 'completed'].includes(b.body.status) ? b.body : null;
      },
      30_000,
    );
    expect(done.output_file_id).toBeNull();
    const errors = await download(c.childKey, done.error_file_id);
    const results = errors.bytes
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(results.map((r) => r.custom_id)).toEqual(stored.map((l) => l.custom_id));
    for (const r of results)
      expect(r.error?.code ?? r.response?.body?.error?.type).toMatch(/batch_cancelled|insufficient_balance/);
  });
});
