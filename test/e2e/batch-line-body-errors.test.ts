import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { resultFileLines, startBatchOf } from '../helpers/batches.js';
import { settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A batch input file whose envelope is right is taken whole; a request in it with a wrong parameter
 * fails its own line when the batch runs, as at OpenAI (shared/batches/parse-jsonl.ts lineChat).
 */
const stack = useTestStack();

describe('batch lines whose request is no valid chat request', () => {
  it('each fails alone, in the error file with the 400 a chat call would get, unbilled; the rest run', async () => {
    const { url } = stack.server;
    const c = await createCustomer(stack.env.ctx, url);
    const good = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };
    const { messages: _, ...noMessages } = good;
    const batchId = await startBatchOf(url, c.childKey, [
      good,
      { ...good, n: 2 },
      { ...good, max_tokens: 0 },
      noMessages,
      { ...good, stream: true },
      good,
    ]);
    const done = await waitFor('batch completed', async () => {
      const b = await call(url, 'GET', `/v1/batches/${batchId}`, { token: c.childKey });
      return b.body.status === 'completed' ? b.body : null;
    });
    expect(done.request_counts).toEqual({ total: 6, completed: 2, failed: 4 });
    const output = await resultFileLines(url, c.childKey, done.output_file_id);
    expect(output.map((o) => o.custom_id).sort()).toEqual(['l0', 'l5']);
    const errors = await resultFileLines(url, c.childKey, done.error_file_id);
    const byId = Object.fromEntries(errors.map((e) => [e.custom_id, e.response]));
    for (const [id, param] of [
      ['l1', 'n'],
      ['l2', 'max_tokens'],
      ['l3', 'messages'],
      ['l4', 'stream'],
    ] as const)
      expect(byId[id], id).toMatchObject({
        status_code: 400,
        body: { error: { type: 'invalid_request_error', param } },
      });
    // Only the two that ran held (and were billed).
    const [holds] = await stack.env.ctx.sql<{ n: number }[]>`
      select count(*)::int as n from holds h join jobs j on j.hold_id = h.id where j.batch_id = ${batchId}`;
    expect(holds!.n).toBe(2);
    await settled(stack.env.ctx, c.accountId);
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });
});
