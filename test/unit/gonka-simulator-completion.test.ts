import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { messageText, promptTokens, simulateCompletion } from '../../shared/gonka/simulator/completion.js';
import { parseDirective, resolveFaults } from '../../shared/gonka/simulator/faults.js';

const user = (content: unknown) => ({ role: 'user', content });

describe('simulator token accounting', () => {
  it('counts ceil(utf8 bytes / 4) per message', () => {
    expect(promptTokens([user('Hello')])).toBe(2);
    expect(promptTokens([user('abcd'), { role: 'system', content: 'abcde' }])).toBe(1 + 2);
    expect(promptTokens([user('')])).toBe(0);
    expect(promptTokens([user('日本')])).toBe(2); // 6 bytes
  });

  it('reads the text of content parts', () => {
    const m = user([
      { type: 'text', text: 'ab' },
      { type: 'image_url', image_url: {} },
      { type: 'text', text: 'cd' },
    ]);
    expect(messageText(m)).toBe('abcd');
    expect(promptTokens([m])).toBe(1);
  });

  it('never exceeds the character count of the contents (the hold estimate)', () => {
    const content = fc.string({ unit: 'binary', maxLength: 200 });
    fc.assert(
      fc.property(fc.array(content, { minLength: 1, maxLength: 6 }), (texts) => {
        const chars = texts.reduce((n, t) => n + t.length, 0);
        expect(promptTokens(texts.map(user))).toBeLessThanOrEqual(chars);
      }),
    );
  });

  it('is deterministic and answers 8..64 words, capped by max_tokens', () => {
    const msgs = [user('What is Gonka?')];
    const a = simulateCompletion(msgs);
    expect(simulateCompletion(msgs)).toEqual(a);
    expect(a.words.length).toBe(a.completionTokens);
    expect(a.completionTokens).toBeGreaterThanOrEqual(8);
    expect(a.completionTokens).toBeLessThanOrEqual(64);
    expect(a.finishReason).toBe('stop');
    const capped = simulateCompletion(msgs, 3);
    expect(capped.completionTokens).toBe(3);
    expect(capped.words).toEqual(a.words.slice(0, 3));
    expect(capped.finishReason).toBe('length');
  });

  it('answers different prompts differently', () => {
    expect(simulateCompletion([user('one')]).words).not.toEqual(simulateCompletion([user('two')]).words);
  });
});

describe('fault directives', () => {
  it('reads any subset of latency, status, cut and delay from the last user message', () => {
    expect(parseDirective([user('hi [[sim latency=200 status=503 cut=3]]')])).toEqual({
      latencyMs: 200,
      status: 503,
      cutAfterChunks: 3,
    });
    expect(parseDirective([user('[[sim cut=0 delay=5]] go')])).toEqual({
      cutAfterChunks: 0,
      tokenDelayMs: 5,
    });
  });

  it('ignores directives elsewhere and statuses it cannot inject', () => {
    const earlier = [user('[[sim status=503]]'), { role: 'assistant', content: 'ok' }, user('plain')];
    expect(parseDirective(earlier)).toEqual({});
    expect(parseDirective([{ role: 'system', content: '[[sim status=503]]' }])).toEqual({});
    expect(parseDirective([user('[[sim status=404 latency=5]]')])).toEqual({ latencyMs: 5 });
  });

  it('fails the next N requests, then recovers', () => {
    const node = { failNext: 2, status: 429 as const };
    expect(resolveFaults(node, {}).status).toBe(429);
    expect(resolveFaults(node, {}).status).toBe(429);
    expect(resolveFaults(node, {}).status).toBeUndefined();
    expect(resolveFaults({ failNext: 1 }, {}).status).toBe(503);
  });

  it('lets the directive override the node per field', () => {
    const r = resolveFaults({ status: 500, latencyMs: 10, cutAfterChunks: 1 }, { status: 429 });
    expect(r).toEqual({ latencyMs: 10, status: 429, cutAfterChunks: 1, tokenDelayMs: 0, noUsage: false });
  });
});

describe('simulator vocabulary', () => {
  it('never names the network, so white-label checks on completions cannot trip', () => {
    fc.assert(
      fc.property(
        fc.string(),
        (content) => !/gonka/i.test(simulateCompletion([user(content)]).words.join(' ')),
      ),
    );
  });
});
