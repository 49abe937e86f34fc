import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { type Customer, createCustomer, secondManagementKey } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';

/** POST /v1/files: an account's stored batch input files are bounded (FILES_MAX_BYTES_PER_ACCOUNT). */
const LIMIT = 4096;
const stack = useTestStack({ workers: false, env: { FILES_MAX_BYTES_PER_ACCOUNT: String(LIMIT) } });

/** A batch input file of about `bytes` bytes (one line padded to size). */
function fileOf(bytes: number, tag = 'a'): Buffer {
  const line = (content: string) =>
    JSON.stringify({
      custom_id: tag,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content }], max_tokens: 5 },
    });
  return Buffer.from(`${line('x'.repeat(Math.max(bytes - line('').length - 1, 1)))}\n`);
}

async function uploadOf(c: Customer, bytes: number) {
  const res = await fetch(`${stack.server.url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.childKey}` },
    body: (() => {
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([new Uint8Array(fileOf(bytes))]), 'in.jsonl');
      return form;
    })(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('per-account file storage', () => {
  it('refuses an upload that would take the account past its limit, across its management keys', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = await uploadOf(c, 3000);
    expect(first.status).toBe(200);

    const over = await uploadOf(c, 1500);
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({ type: 'invalid_request_error', param: 'file' });
    expect(over.body.error.message).toMatch(/storage/i);

    // Another management key of the same account shares the account's room.
    const second = await secondManagementKey(stack.server.url, c);
    const viaOther = await uploadOf({ ...c, childKey: second.childKey }, 1500);
    expect(viaOther.status).toBe(400);

    // Another account is not affected.
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    expect((await uploadOf(other, 3000)).status).toBe(200);

    // Deleting a file makes room again.
    await c.openai.files.delete(first.body.id);
    expect((await uploadOf(c, 1500)).status).toBe(200);
  });

  it('lets concurrent uploads together take no more than the limit', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const results = await Promise.all(Array.from({ length: 6 }, () => uploadOf(c, 1000)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(4);
    expect(results.filter((r) => r.status === 400)).toHaveLength(2);
    const files = await c.openai.files.list();
    const stored = files.data.reduce((n, f) => n + f.bytes, 0);
    expect(stored).toBeLessThanOrEqual(LIMIT);
  });
});
