import { describe, expect, it } from 'vitest';
import {
  defaultSimPrice,
  SIM_MODEL_QWEN3_235B,
  SIM_MODEL_QWQ_32B,
} from '../../shared/gonka/simulator/index.js';
import { settled as settledBooks } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

// QwQ-32B at 4 nGNK a token (the default is 5): with the 1.2× markup a rate of 4.8 a token, which
// no whole per-token figure states (see 'publishes a rate a client can reproduce its charge from').
const stack = useTestStack({
  sim: {
    models: [
      { id: SIM_MODEL_QWEN3_235B, pricePerToken: defaultSimPrice(SIM_MODEL_QWEN3_235B) },
      { id: SIM_MODEL_QWQ_32B, pricePerToken: 4n },
    ],
  },
});

const MODEL = SIM_MODEL_QWEN3_235B;
const ask = (content: string) => [{ role: 'user' as const, content }];

// Not "no open hold" alone: sync chat answers before its hold is written, so right after the
// answer there may be none yet. books.ts's settled also waits for Redis to hold nothing back.
const settled = (accountId: string) => settledBooks(stack.env.ctx, accountId);

describe('sync chat through the official openai client', () => {
  it('answers a non-stream completion and charges its actual usage once', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await c.openai.chat.completions.create({
      model: MODEL,
      messages: ask('Hello there'),
      max_tokens: 50,
    });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe(MODEL);
    expect(res.choices[0]?.message.content).toMatch(/\w+/);
    // Not asked for, yet present as null, as OpenAI sends it (the node's forced logprobs go).
    expect(res.choices[0]).toHaveProperty('logprobs', null);
    const usage = res.usage!;
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    await settled(c.accountId);
    // 10 nGNK/token at the node, ×1.2 markup.
    const charge = BigInt(Math.ceil(usage.total_tokens * 10 * 1.2));
    const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(account.body.balance_ngonka).toBe(String(1_000_000_000n - charge));
    expect(account.body.held_ngonka).toBe('0');
    const child = await call(
      stack.server.url,
      'GET',
      `/api/management/keys/${c.mkId}/children/${c.childId}`,
      { token: c.jwt },
    );
    expect(child.body.usage.daily_spent_ngonka).toBe(charge.toString());
    expect(child.body.usage.requests_today).toBe(1);
    expect(child.body.last_used_at).not.toBeNull();
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('streams the same text, ending with [DONE], with usage only when asked for, null before it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const messages = ask('Stream me a story');
    const whole = await c.openai.chat.completions.create({ model: MODEL, messages, max_tokens: 40 });
    const plain = await c.openai.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 40,
      stream: true,
    });
    let text = '';
    for await (const chunk of plain) {
      text += chunk.choices[0]?.delta?.content ?? '';
      // No usage asked for: no usage field at all; every choice has `logprobs: null`, as OpenAI's.
      expect(chunk).not.toHaveProperty('usage');
      expect(chunk.choices).toHaveLength(1);
      expect(chunk.choices[0]).toHaveProperty('logprobs', null);
      expect(chunk.model).toBe(MODEL);
    }
    expect(text).toBe(whole.choices[0]?.message.content);

    const withUsage = await c.openai.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of withUsage) chunks.push(chunk);
    // As OpenAI: `usage: null` on every chunk, then one last chunk with no choices and the usage.
    const last = chunks.pop();
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.total_tokens).toBe(whole.usage?.total_tokens);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      expect(chunk).toHaveProperty('usage', null);
      expect(chunk.choices[0]).toHaveProperty('logprobs', null);
    }
    await settled(c.accountId);
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('sends the usage it billed when asked for it and the node sent none', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const stream = await c.openai.chat.completions.create({
      model: MODEL,
      messages: ask('a node that forgets its usage [[sim nousage=1]]'),
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.pop();
    expect(last?.choices).toEqual([]);
    const generated = chunks.filter((x) => x.choices[0]?.delta?.content).length;
    const { prompt_tokens, completion_tokens, total_tokens } = last!.usage!;
    expect(completion_tokens).toBe(generated);
    expect(total_tokens).toBe(prompt_tokens + completion_tokens);
    await settled(c.accountId);
    // What was billed is what the client was told.
    const [hold] = await stack.env.ctx.sql<{ prompt_tokens: number; completion_tokens: number }[]>`
      select prompt_tokens, completion_tokens from holds where account_id = ${c.accountId}`;
    expect(hold).toEqual({ prompt_tokens, completion_tokens });
  });

  it('serves two requests that reuse one x-request-id (it names the request, not the hold)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const body = { model: MODEL, messages: ask('again'), max_tokens: 5 };
    for (let i = 0; i < 2; i++) {
      const r = await call(stack.server.url, 'POST', '/v1/chat/completions', {
        token: c.childKey,
        body,
        headers: { 'x-request-id': 'client-chosen-id' },
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-request-id')).toBe('client-chosen-id');
    }
  });

  it('publishes a rate a client can reproduce its charge from, and retrieves one model', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // The node's 4 nGNK a token with the 1.2× markup: 4.8, which no whole per-token figure states.
    const qwq = (await c.openai.models.retrieve(SIM_MODEL_QWQ_32B)) as unknown as {
      id: string;
      pricing: Record<string, string>;
    };
    expect(qwq.id).toBe(SIM_MODEL_QWQ_32B);
    expect(qwq.pricing).toMatchObject({
      prompt_ngonka_per_token: '5',
      prompt_ngonka_per_million_tokens: '4800000',
    });
    const done = await c.openai.chat.completions.create({
      model: SIM_MODEL_QWQ_32B,
      messages: [{ role: 'user', content: 'price check' }],
      max_tokens: 17,
    });
    const tokens = BigInt(done.usage!.prompt_tokens + done.usage!.completion_tokens);
    const rate = BigInt(qwq.pricing.prompt_ngonka_per_million_tokens!);
    const [hold] = await settled(c.accountId);
    expect(hold!.posted_amount).toBe((tokens * rate + 999_999n) / 1_000_000n);
    expect(hold!.posted_amount).toBeLessThan(tokens * 5n);

    const missing = await call(stack.server.url, 'GET', '/v1/models/no-such-model', { token: c.childKey });
    expect([missing.status, missing.body.error.type, missing.body.error.code]).toEqual([
      404,
      'not_found',
      'model_not_found',
    ]);
  });

  it('lists models with their nGNK prices, under the brand', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const models = await c.openai.models.list();
    const m = models.data.find((x) => x.id === MODEL) as unknown as {
      owned_by: string;
      pricing: Record<string, string>;
    };
    expect(m.owned_by).toBe('Gateway');
    expect(m.pricing).toEqual({
      prompt_ngonka_per_token: '12',
      completion_ngonka_per_token: '12',
      prompt_ngonka_per_million_tokens: '12000000',
      completion_ngonka_per_million_tokens: '12000000',
    });
    // The nGNK unit is the product's currency; nothing else may name the network or its nodes.
    const text = JSON.stringify(models.data).replaceAll('_ngonka', '').toLowerCase();
    expect(text).not.toContain('gonka');
    expect(text).not.toContain('127.0.0.1');
  });
});

describe('OpenAI endpoints this gateway does not serve', () => {
  it('names each and what to call instead, a 404 the official client raises as NotFoundError', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // The Vercel AI SDK's default model calls the Responses API: its user must learn the one change.
    const responses = await c.openai.responses.create({ model: MODEL, input: 'hi' }).catch((e: unknown) => e);
    expect(responses).toMatchObject({
      status: 404,
      code: 'unsupported_endpoint',
      message: expect.stringMatching(/\/v1\/responses.*POST \/v1\/chat\/completions.*openai\.chat\(model\)/),
    });
    const embeddings = await c.openai.embeddings
      .create({ model: MODEL, input: 'hi' })
      .catch((e: unknown) => e);
    expect(embeddings).toMatchObject({ status: 404, code: 'unsupported_endpoint' });
    const nested = await call(stack.server.url, 'GET', '/v1/responses/resp_1', { token: c.childKey });
    expect(nested.body.error).toMatchObject({ type: 'not_found', code: 'unsupported_endpoint' });
    // Any other path stays the plain 404 it was.
    const other = await call(stack.server.url, 'GET', '/v1/nothing-here', { token: c.childKey });
    expect([other.status, other.body.error.code]).toEqual([404, undefined]);
  });
});
