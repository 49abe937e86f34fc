import { describe, expect, it } from 'vitest';
import { whiteLabel } from '../../shared/inference/white-label.js';

const label = { id: 'chatcmpl-abc', model: 'brand-large' };

describe('whiteLabel', () => {
  it("keeps OpenAI's fields and drops what a node adds, at the top and in each choice", () => {
    const fromNode = {
      id: 'node-123',
      object: 'chat.completion',
      created: 1,
      model: 'Qwen/QwQ-32B',
      system_fingerprint: 'vllm-0.6',
      executor: 'http://10.0.0.5:8080',
      prompt_logprobs: null,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'hi', reasoning_content: 'thinking' },
          logprobs: null,
          finish_reason: 'stop',
          stop_reason: null,
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    };
    expect(whiteLabel(fromNode, label)).toEqual({
      id: 'chatcmpl-abc',
      object: 'chat.completion',
      created: 1,
      model: 'brand-large',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'hi', reasoning_content: 'thinking' },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
  });

  it('leaves a chunk’s delta and its usage: null as they are', () => {
    const chunk = {
      id: 'x',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      executor: 'node-7',
      choices: [{ index: 0, delta: { content: 'a' }, logprobs: null, finish_reason: null }],
      usage: null,
    };
    expect(whiteLabel(chunk, label)).toEqual({
      id: 'chatcmpl-abc',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'brand-large',
      choices: [{ index: 0, delta: { content: 'a' }, logprobs: null, finish_reason: null }],
      usage: null,
    });
  });

  it('drops what a node adds inside a message, a delta or a tool call, keeping OpenAI’s fields and reasoning', () => {
    const answer = {
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            executor_note: 'served by gonka1qqqq at http://10.0.0.9:5000',
            provider_specific_fields: { node: 'mlnode-3' },
            reasoning: 'first the weather',
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'weather', arguments: '{}' },
                executor: 'mlnode-3',
              },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
    };
    expect(whiteLabel(answer, label).choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          reasoning: 'first the weather',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{}' } }],
        },
        finish_reason: 'tool_calls',
      },
    ]);
    const chunk = {
      object: 'chat.completion.chunk',
      choices: [
        {
          index: 0,
          delta: { content: 'a', refusal: null, executor_url: 'http://10.0.0.9:5000' },
          finish_reason: null,
        },
      ],
    };
    expect(whiteLabel(chunk, label).choices).toEqual([
      { index: 0, delta: { content: 'a', refusal: null }, finish_reason: null },
    ]);
  });
});
