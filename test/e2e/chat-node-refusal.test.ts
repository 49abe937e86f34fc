import { BadRequestError } from 'openai';
import { describe, expect, it } from 'vitest';
import { SIM_CONTEXT_TOKENS } from '../../shared/gonka/simulator/chat.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { submitJob } from '../helpers/jobs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A node refusing the request itself (a prompt past the model's context) answers as a Gonka node
 * does: echo's `{"message"}` wrapping vLLM's body. The client gets vLLM's words, its `param`, and
 * OpenAI's `context_length_exceeded` code, which clients act on by trimming history; not a
 * generic "rejected" (what it got before), and nothing billed.
 */
const stack = useTestStack();

// ~4 bytes a token in the simulator: this prompt alone passes the context window.
const LONG = 'word '.repeat(SIM_CONTEXT_TOKENS);
const request = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user' as const, content: LONG }] };

function expectContextRefusal(err: unknown): void {
  expect(err).toBeInstanceOf(BadRequestError);
  const e = err as BadRequestError;
  expect(e.code).toBe('context_length_exceeded');
  expect(e.param).toBe('messages');
  expect(e.message).toContain(`This model's maximum context length is ${SIM_CONTEXT_TOKENS} tokens`);
  expect(e.message).not.toMatch(/Inference node|gonka/i);
}

describe('a node’s refusal of the request', () => {
  it('reaches the client with vLLM’s words, param and OpenAI’s code, streamed or not, unbilled', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 10_000_000_000n });
    expectContextRefusal(await c.openai.chat.completions.create(request).catch((e: unknown) => e));
    expectContextRefusal(
      await c.openai.chat.completions.create({ ...request, stream: true }).catch((e: unknown) => e),
    );
    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status)).toEqual(['voided', 'voided']);
    const account = (await call(stack.server.url, 'GET', '/api/account', { token: c.jwt })).body;
    expect(account.balance_ngonka).toBe('10000000000');
  });

  it('fails a job with the same error, unbilled', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 10_000_000_000n });
    const id = await submitJob(stack.server.url, c.childKey, request);
    const job = await waitFor('the job failed', async () => {
      const j = (await call(stack.server.url, 'GET', `/v1/jobs/${id}`, { token: c.childKey })).body;
      return j.status === 'failed' && j;
    });
    expect(job.error).toMatchObject({
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    });
    expect(job.error.message).toContain('maximum context length');
    expect(job.cost_ngonka).toBe('0');
    expect((await settled(stack.env.ctx, c.accountId)).map((h) => h.status)).toEqual(['voided']);
  });
});
