import { describe, expect, it } from 'vitest';
import { simulateCompletion } from '../../shared/gonka/simulator/completion.js';
import { answerShape, simulateAnswer } from '../../shared/gonka/simulator/structured.js';

const ask = [{ role: 'user', content: 'What is the weather in Lisbon?' }];
const tool = (
  name: string,
  parameters: unknown = { type: 'object', properties: { city: { type: 'string' } } },
) => ({
  type: 'function',
  function: { name, parameters },
});

describe('the simulator’s answer shape, as vLLM decides it from the request', () => {
  it('calls the first tool, the named one, or none', () => {
    const tools = [tool('a'), tool('b')];
    expect(answerShape({ tools }, ask)).toMatchObject({ kind: 'tool', name: 'a' });
    expect(answerShape({ tools, tool_choice: 'required' }, ask)).toMatchObject({ kind: 'tool', name: 'a' });
    expect(
      answerShape({ tools, tool_choice: { type: 'function', function: { name: 'b' } } }, ask),
    ).toMatchObject({
      kind: 'tool',
      name: 'b',
    });
    expect(answerShape({ tools, tool_choice: 'none' }, ask)).toEqual({ kind: 'text' });
  });

  it('answers a tool’s result in text under "auto", and calls again when a call is required', () => {
    const afterResult = [...ask, { role: 'tool', content: '21 °C' }];
    expect(answerShape({ tools: [tool('a')] }, afterResult)).toEqual({ kind: 'text' });
    expect(answerShape({ tools: [tool('a')], tool_choice: 'required' }, afterResult)).toMatchObject({
      kind: 'tool',
    });
  });

  it('writes JSON for response_format, following a json_schema', () => {
    expect(answerShape({ response_format: { type: 'json_object' } }, ask)).toEqual({
      kind: 'json',
      schema: null,
    });
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        count: { type: 'integer' },
        ok: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
        kind: { enum: ['x', 'y'] },
        maybe: { anyOf: [{ type: 'number' }, { type: 'null' }] },
      },
    };
    const shape = answerShape({ response_format: { type: 'json_schema', json_schema: { schema } } }, ask);
    const a = simulateAnswer(shape, ask);
    expect(JSON.parse(a.pieces.join(''))).toEqual({
      name: expect.any(String),
      count: expect.any(Number),
      ok: true,
      tags: [expect.any(String)],
      kind: 'x',
      maybe: expect.any(Number),
    });
    expect(a).toMatchObject({ finishReason: 'stop', completionTokens: a.pieces.length });
    expect(simulateAnswer(shape, ask)).toEqual(a); // deterministic
  });

  it('counts a token a piece, cuts at max_tokens (finish "length"), and bills the prompt as text', () => {
    const shape = answerShape({ tools: [tool('a')] }, ask);
    const whole = simulateAnswer(shape, ask);
    expect(whole).toMatchObject({ finishReason: 'tool_calls', toolCall: { name: 'a' } });
    expect(whole.promptTokens).toBe(simulateCompletion(ask).promptTokens);
    const cut = simulateAnswer(shape, ask, 2);
    expect(cut).toMatchObject({
      finishReason: 'length',
      completionTokens: 2,
      pieces: whole.pieces.slice(0, 2),
    });
  });

  it('leaves a text answer as it was', () => {
    const text = simulateAnswer({ kind: 'text' }, ask, 5);
    const c = simulateCompletion(ask, 5);
    expect(text.pieces.join('')).toBe(c.words.join(' '));
    expect(text).toMatchObject({ completionTokens: c.completionTokens, finishReason: c.finishReason });
  });
});
