import { zodResponseFormat } from 'openai/helpers/zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defaultSimPrice, SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { priceTokens } from '../../shared/pricing.js';
import { settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

/**
 * Tool calls and structured outputs through the gateway with the official client, as an
 * integrator builds an agent: the node's tool call reaches the client whole (sync and streamed,
 * through the gateway's white-label filter), its result goes back, and each is billed its usage.
 */
const stack = useTestStack();
const MODEL = SIM_MODEL_QWEN3_235B;
const PRICE = defaultSimPrice(MODEL);

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
    },
  },
};
const question = [{ role: 'user' as const, content: 'What is the weather in Lisbon?' }];

const spent = async (c: { accountId: string; jwt: string }) => {
  await settled(stack.env.ctx, c.accountId);
  const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
  return 1_000_000_000n - BigInt(account.body.balance_ngonka);
};

describe('tool calls and structured outputs through the official openai client', () => {
  it('answers with a tool call, then answers the tool’s result, each billed its usage', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = await c.openai.chat.completions.create({
      model: MODEL,
      messages: question,
      tools: [weather],
    });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const toolCall = choice.message.tool_calls![0]!;
    expect(toolCall).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(toolCall.id).toMatch(/^call_/);
    if (toolCall.type !== 'function') throw new Error('a function call');
    const args = JSON.parse(toolCall.function.arguments) as { city: string; unit: string };
    expect(args).toEqual({ city: expect.any(String), unit: 'celsius' });

    const second = await c.openai.chat.completions.create({
      model: MODEL,
      tools: [weather],
      messages: [
        ...question,
        choice.message,
        { role: 'tool', tool_call_id: toolCall.id, content: '21 °C and sunny' },
      ],
    });
    expect(second.choices[0]).toMatchObject({
      finish_reason: 'stop',
      message: { content: expect.any(String) },
    });
    expect(await spent(c)).toBe(
      priceTokens(BigInt(first.usage!.total_tokens), PRICE, 12000) +
        priceTokens(BigInt(second.usage!.total_tokens), PRICE, 12000),
    );
  });

  it('streams a tool call whose pieces add up to the arguments, with its usage', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const stream = await c.openai.chat.completions.create({
      model: MODEL,
      messages: question,
      tools: [weather],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
      stream_options: { include_usage: true },
    });
    let name = '';
    let args = '';
    let finish: string | null = null;
    let usage: { total_tokens: number; completion_tokens: number } | undefined;
    let pieces = 0;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      for (const call of choice.delta.tool_calls ?? []) {
        expect(Object.keys(call).every((k) => ['index', 'id', 'type', 'function'].includes(k))).toBe(true);
        name += call.function?.name ?? '';
        args += call.function?.arguments ?? '';
        pieces++;
      }
      finish = choice.finish_reason ?? finish;
    }
    expect([name, finish]).toEqual(['get_weather', 'tool_calls']);
    expect(JSON.parse(args)).toEqual({ city: expect.any(String), unit: 'celsius' });
    // One piece a token, as the node counts them.
    expect(usage!.completion_tokens).toBe(pieces);
    expect(await spent(c)).toBe(priceTokens(BigInt(usage!.total_tokens), PRICE, 12000));
  });

  it('gives a structured output the client parses into its schema', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const Forecast = z.object({
      city: z.string(),
      days: z.array(z.object({ day: z.string(), high: z.number(), rain: z.boolean() })),
    });
    const res = await c.openai.chat.completions.parse({
      model: MODEL,
      messages: [{ role: 'user', content: 'Forecast for Lisbon' }],
      response_format: zodResponseFormat(Forecast, 'forecast'),
    });
    const parsed = res.choices[0]!.message.parsed;
    expect(Forecast.parse(parsed)).toEqual(parsed);
    expect(parsed!.days).toHaveLength(1);

    const json = await c.openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Answer in JSON' }],
      response_format: { type: 'json_object' },
    });
    expect(JSON.parse(json.choices[0]!.message.content!)).toEqual({ answer: expect.any(String) });
  });
});
