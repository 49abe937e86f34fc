import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';

/**
 * POST /v1/files with a form field OpenAI does not have: refused by name, nothing stored (the
 * fields OpenAI has, purpose and expires_after, are honoured: files-expiry.test.ts).
 */
const stack = useTestStack({ workers: false, env: { BATCH_FILE_MAX_BYTES: '100000' } });

const jsonl = `${JSON.stringify({
  custom_id: 'a',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
})}\n`;

describe('uploading a file with a field the gateway does not know', () => {
  it('refuses it with a 400 naming it, and stores nothing', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('retention', 'forever');
    form.append('file', new Blob([jsonl]), 'in.jsonl');
    const res = await fetch(`${stack.server.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.childKey}` },
      body: form,
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', param: 'retention' });
    expect((await c.openai.files.list()).data).toEqual([]);
  });

  it('refuses a purpose other than "batch" sent before the file without receiving the file', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    // Larger than BATCH_FILE_MAX_BYTES: received, it would be a 413.
    form.append('file', new Blob(['x'.repeat(200_000)]), 'in.jsonl');
    const res = await fetch(`${stack.server.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.childKey}` },
      body: form,
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'purpose',
      message: 'purpose: must be "batch"',
    });
    expect((await c.openai.files.list()).data).toEqual([]);
  });
});
