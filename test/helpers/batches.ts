import { expect } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { call } from './http.js';

/**
 * A batch of `lines` small chat requests (custom_id `l0`, `l1`, …) made the way a client makes one:
 * the JSONL uploaded to /v1/files, then POST /v1/batches. Returns the batch id. `suffix` ends each
 * line's prompt (a simulator directive such as ` [[sim latency=1000]]`); `headers` go with the
 * POST /v1/batches (an x-request-id, say).
 */
export async function startBatch(
  baseUrl: string,
  key: string,
  lines: number,
  suffix = '',
  headers: Record<string, string> = {},
): Promise<string> {
  const bodies = Array.from({ length: lines }, (_, i) => ({
    model: SIM_MODEL_QWQ_32B,
    messages: [{ role: 'user', content: `line ${i}${suffix}` }],
    max_tokens: 8,
  }));
  return startBatchOf(baseUrl, key, bodies, headers);
}

/** A batch of these chat request bodies (custom_id `l0`, `l1`, …), made as startBatch makes one. */
export async function startBatchOf(
  baseUrl: string,
  key: string,
  bodies: Record<string, unknown>[],
  headers: Record<string, string> = {},
): Promise<string> {
  const jsonl = bodies
    .map((body, i) =>
      JSON.stringify({ custom_id: `l${i}`, method: 'POST', url: '/v1/chat/completions', body }),
    )
    .join('\n');
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
    headers,
    body: { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
  });
  expect(batch.status).toBe(200);
  return batch.body.id;
}

/** The lines of a batch's result file (output or error), as GET /v1/files/:id/content gives them. */
export async function resultFileLines(baseUrl: string, key: string, fileId: string | null): Promise<any[]> {
  if (!fileId) return [];
  const res = await fetch(`${baseUrl}/v1/files/${fileId}/content`, {
    headers: { authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(200);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
