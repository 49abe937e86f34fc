import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSimPrice, SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { holdEstimate, priceTokens } from '../../shared/pricing.js';
import { settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

let stack: TestStack;
let receiver: WebhookReceiver;
beforeAll(async () => {
  stack = await startTestStack({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

// What the simulator's QwQ-32B costs a token at the node; the gateway adds 20%.
const NODE_PRICE = defaultSimPrice(SIM_MODEL_QWQ_32B);
const MARKUP_BPS = 12000;
const INITIAL = 1_000_000_000n;

const line = (customId: string, content: string, maxTokens: number) => ({
  custom_id: customId,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content }], max_tokens: maxTokens },
});
const holdOf = (l: ReturnType<typeof line>) =>
  holdEstimate(l.body.messages, l.body.max_tokens, NODE_PRICE, MARKUP_BPS);
const jsonl = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('batches through the official openai client', () => {
  it('runs a batch to its output file, with a line refused for money in the error file', async () => {
    const small = [
      line('greet-1', 'Say hello', 30),
      line('greet-3', 'Say hi', 30),
      line('greet-4', 'Wave', 30),
    ];
    // Its hold alone exceeds the key's whole daily limit: refused at dispatch, whatever runs first.
    const dear = line('dear-2', 'Write a novel', 200_000);
    // The daily limit fits every small line at once, so none of them is refused.
    const limit = small.reduce((s, l) => s + holdOf(l), 0n);
    expect(holdOf(dear)).toBeGreaterThan(limit);
    const c = await createCustomer(stack.env.ctx, stack.server.url, {
      balance: INITIAL,
      child: { limit_daily_ngonka: limit.toString() },
    });
    const hook = await call(stack.server.url, 'POST', '/api/webhooks', {
      token: c.jwt,
      body: { url: `${receiver.base}/batches`, events: ['batch.completed'] },
    });
    receiver.expectSecret('/batches', hook.body.secret);

    const input = [small[0]!, dear, small[1]!, small[2]!];
    const file = await c.openai.files.create({
      file: await toFile(Buffer.from(input.map((l) => JSON.stringify(l)).join('\n')), 'in.jsonl'),
      purpose: 'batch',
    });
    expect(file).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'in.jsonl',
      status: 'processed',
    });
    expect(await c.openai.files.retrieve(file.id)).toMatchObject({ id: file.id, bytes: file.bytes });

    const created = await c.openai.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { run: 'nightly' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      endpoint: '/v1/chat/completions',
      input_file_id: file.id,
      completion_window: '24h',
      metadata: { run: 'nightly' },
      request_counts: { total: 4 },
    });
    expect(created.expires_at! - created.created_at).toBe(24 * 3600);

    const done = await waitFor('batch completed', async () => {
      const b = await c.openai.batches.retrieve(created.id);
      return b.status === 'completed' ? b : null;
    });
    expect(done.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
    expect(done.completed_at).toBeGreaterThanOrEqual(done.finalizing_at!);
    expect(done.errors).toBeNull();

    const output = jsonl(await (await c.openai.files.content(done.output_file_id!)).text());
    expect(output.map((o) => o.custom_id)).toEqual(['greet-1', 'greet-3', 'greet-4']);
    for (const o of output) {
      expect(o.id).toMatch(/^batch_req_/);
      expect(o.error).toBeNull();
      expect(o.response.status_code).toBe(200);
      expect(o.response.body).toMatchObject({ object: 'chat.completion', model: SIM_MODEL_QWQ_32B });
    }
    const errors = jsonl(await (await c.openai.files.content(done.error_file_id!)).text());
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ custom_id: 'dear-2', error: null, response: { status_code: 402 } });
    expect(errors[0].response.body.error).toMatchObject({
      type: 'child_key_limit',
      monthly_remaining: null,
      daily_resets_at: expect.any(String),
    });
    expect(await c.openai.files.retrieve(done.output_file_id!)).toMatchObject({ purpose: 'batch_output' });

    // Billed exactly what the output lines used; the refused line cost nothing.
    const charges = output.reduce(
      (s, o) => s + priceTokens(BigInt(o.response.body.usage.total_tokens), NODE_PRICE, MARKUP_BPS),
      0n,
    );
    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.filter((h) => h.status === 'posted')).toHaveLength(3);
    const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(account.body).toMatchObject({ held_ngonka: '0', balance_ngonka: (INITIAL - charges).toString() });
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });

    const list = await c.openai.batches.list({ limit: 10 });
    expect(list.data.map((b) => b.id)).toEqual([created.id]);

    const delivery = await waitFor('batch.completed webhook', async () => receiver.at('/batches')[0]);
    expect(delivery.verified).toBe(true);
    expect(JSON.parse(delivery.body)).toMatchObject({
      type: 'batch.completed',
      data: { id: created.id, request_counts: { total: 4, completed: 3, failed: 1 } },
    });
  });
});
