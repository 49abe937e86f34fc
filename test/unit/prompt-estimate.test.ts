import { describe, expect, it } from 'vitest';
import { estimatePromptTokens, promptEscrowBytes } from '../../shared/pricing.js';

describe('the prompt of a stream abandoned before its usage came', () => {
  const say = (content: unknown) => [{ role: 'user', content }];

  it('is about four bytes a token: English by its characters, Chinese by its bytes', () => {
    expect(estimatePromptTokens(say('abcd'.repeat(10)))).toBe(10);
    // 4,000 characters, 12,000 bytes in UTF-8: by characters alone it was 1,000 tokens.
    expect(estimatePromptTokens(say('你好世界'.repeat(1000)))).toBe(3000);
    expect(estimatePromptTokens([...say('abcd'), ...say([{ type: 'text', text: 'é' }])])).toBe(2);
  });

  it('never exceeds the bytes its hold counted', () => {
    const emoji = say('😀'.repeat(10)); // 20 UTF-16 characters, 40 bytes
    expect(estimatePromptTokens(emoji)).toBeLessThanOrEqual(Number(promptEscrowBytes(emoji)));
    expect(estimatePromptTokens(say('x'))).toBe(1);
    expect(estimatePromptTokens(say(''))).toBe(0);
    expect(estimatePromptTokens('not messages')).toBe(0);
  });
});

// decentralized-api's handleTransferRequest: promptText += message.ContentText() + "\n" per message,
// escrowed as len(promptText) — Go's len, UTF-8 bytes; ContentText keeps a string content, or the
// concatenated parts of type "text".
describe("a hold's prompt part, by Gonka's own escrow rule", () => {
  const say = (content: unknown) => [{ role: 'user', content }];

  it('is the UTF-8 bytes of every message text plus a newline each', () => {
    expect(promptEscrowBytes(say('abcd'))).toBe(5n);
    // 4 characters, 12 bytes: by characters the hold counted a third of what Gonka escrows.
    expect(promptEscrowBytes(say('你好世界'))).toBe(13n);
    expect(promptEscrowBytes([...say(''), ...say(''), ...say('')])).toBe(3n);
  });

  it('counts only text parts of array contents', () => {
    const parts = [
      { type: 'text', text: 'ab' },
      { type: 'image_url', image_url: { url: 'https://x.example/i.png' }, text: 'ignored' },
      { type: 'text', text: 'é' },
    ];
    expect(promptEscrowBytes(say(parts))).toBe(2n + 2n + 1n);
    expect(promptEscrowBytes('not messages')).toBe(0n);
  });
});
