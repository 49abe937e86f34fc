import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { resultFileLines, startBatchOf } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** `gone` is an alias whose model the nodes no longer price (retired): nothing can serve it. */
const stack = useTestStack({ env: { MODEL_ALIASES: `fast=${SIM_MODEL_QWQ_32B},gone=retired/model` } });

describe('a batch line for a model no node prices', () => {
  it('ends in the error file as upstream_unavailable, and the rest of the batch goes on', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const ask = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
    const id = await startBatchOf(stack.server.url, c.childKey, [ask('gone'), ask('fast'), ask('fast')]);
    const done = await waitFor('batch completed', async () => {
      const b = await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: c.childKey });
      return b.body.status === 'completed' ? b.body : null;
    });
    expect(done.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    const [failed] = await resultFileLines(stack.server.url, c.childKey, done.error_file_id);
    expect(failed).toMatchObject({
      custom_id: 'l0',
      response: { body: { error: { type: 'upstream_unavailable' } } },
    });
  });
});
