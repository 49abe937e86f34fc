import { BadRequestError, toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';

/** POST /v1/files through the official openai client, with the parameters its types offer. */
const stack = useTestStack({ workers: false });

const jsonl = `${JSON.stringify({
  custom_id: 'a',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
})}\n`;

describe('uploading a file with parameters the gateway does not honour', () => {
  it('refuses expires_after with a 400 naming it, rather than keeping the file past the time asked', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const err = await c.openai.files
      .create({
        file: await toFile(Buffer.from(jsonl), 'in.jsonl'),
        purpose: 'batch',
        expires_after: { anchor: 'created_at', seconds: 3600 },
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'expires_after',
    });
    // Nothing was stored.
    expect((await c.openai.files.list()).data).toEqual([]);
  });
});
