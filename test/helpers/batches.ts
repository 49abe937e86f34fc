import { expect } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { call } from './http.js';

/**
 * A batch of `lines` small chat requests (custom_id `l0`, `l1`, …) made the way a client makes one:
 * the JSONL uploaded to /v1/files, then POST /v1/batches. Returns the batch id.
 */
export async function startBatch(baseUrl: string, key: string, lines: number): Promise<string> {
  const jsonl = Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      custom_id: `l${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: `line ${i}` }], max_tokens: 8 },
    }),
  ).join('\n');
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([jsonl]), 'in.jsonl');
  const upload = await fetch(`${baseUrl}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  expect(upload.status).toBe(200);
  const file = (await upload.json()) as { id: string };
  const batch = await call(baseUrl, 'POST', '/v1/batches', {
    token: key,
    body: { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
  });
  expect(batch.status).toBe(200);
  return batch.body.id;
}
