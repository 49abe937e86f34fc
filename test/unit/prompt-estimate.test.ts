import { describe, expect, it } from 'vitest';
import { estimatePromptTokens, promptCharacters } from '../../shared/pricing.js';

describe('the prompt of a stream abandoned before its usage came', () => {
  const say = (content: unknown) => [{ role: 'user', content }];

  it('is about four bytes a token: English by its characters, Chinese by its bytes', () => {
    expect(estimatePromptTokens(say('abcd'.repeat(10)))).toBe(10);
    // 4,000 characters, 12,000 bytes in UTF-8: by characters alone it was 1,000 tokens.
    expect(estimatePromptTokens(say('你好世界'.repeat(1000)))).toBe(3000);
    expect(estimatePromptTokens([...say('abcd'), ...say([{ type: 'text', text: 'é' }])])).toBe(2);
  });

  it('never exceeds the characters its hold counted', () => {
    const emoji = say('😀'.repeat(10)); // 20 UTF-16 characters, 40 bytes
    expect(estimatePromptTokens(emoji)).toBeLessThanOrEqual(Number(promptCharacters(emoji)));
    expect(estimatePromptTokens(say('x'))).toBe(1);
    expect(estimatePromptTokens(say(''))).toBe(0);
    expect(estimatePromptTokens('not messages')).toBe(0);
  });
});
