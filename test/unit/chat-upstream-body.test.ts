import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { chatCompletionBody, prepareChat } from '../../shared/inference/chat-request.js';
import type { ServedModel } from '../../shared/models.js';

/** What the node is sent for a client's body (the gateway's own changes only: the rest is the client's). */
const model = { id: 'brand-small', upstream: 'Qwen/QwQ-32B' } as ServedModel;
const catalog = { resolve: () => model, unpriced: () => false };
const config = loadConfig({}, () => {});
const upstreamOf = (body: Record<string, unknown>) =>
  prepareChat(chatCompletionBody.parse(body), catalog, config).upstreamBody;

describe('the body a node is sent', () => {
  it('names no end user: OpenAI’s abuse and cache hints stay with the gateway', () => {
    const sent = upstreamOf({
      model: 'brand-small',
      messages: [{ role: 'user', content: 'hi' }],
      user: 'cust-42',
      metadata: { customer: 'acme' },
      safety_identifier: 'hash-of-cust-42',
      prompt_cache_key: 'tenant-7',
      temperature: 0.2,
      top_k: 40,
    });
    expect(sent).toEqual({
      model: 'Qwen/QwQ-32B',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: config.DEFAULT_MAX_TOKENS,
      temperature: 0.2,
      top_k: 40,
    });
  });

  it('sends a blank message (a tool call’s null, absent or blank content, an empty result) as one empty text part, as nodes take it', () => {
    const call = { id: 't1', type: 'function', function: { name: 'f', arguments: '{}' } };
    const messages = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [call] }, // the openai SDK, the Vercel AI SDK
      { role: 'assistant', tool_calls: [call] },
      { role: 'assistant', content: '', tool_calls: [call] }, // LangChain
      { role: 'tool', tool_call_id: 't1', content: '21 °C' },
      { role: 'tool', tool_call_id: 't2', content: '' }, // an empty tool result
      { role: 'user', content: [] },
    ];
    const empty = [{ type: 'text', text: '' }];
    expect(upstreamOf({ model: 'brand-small', messages }).messages).toEqual([
      messages[0],
      { role: 'assistant', content: empty, tool_calls: [call] },
      { role: 'assistant', content: empty, tool_calls: [call] },
      { role: 'assistant', content: empty, tool_calls: [call] },
      messages[4],
      { role: 'tool', tool_call_id: 't2', content: empty },
      { role: 'user', content: empty },
    ]);
  });
});
