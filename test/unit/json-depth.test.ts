import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestsTooDeep } from '../../shared/json-body-check.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('nestsTooDeep (the depth check on the raw body, before JSON.parse)', () => {
  it('allows exactly MAX_JSON_DEPTH levels, as the check on the parsed value does', () => {
    expect(nestsTooDeep(bytes(nested(MAX_JSON_DEPTH)))).toBe(false);
    expect(nestsTooDeep(bytes(nested(MAX_JSON_DEPTH + 1)))).toBe(true);
    expect(nestsTooDeep(bytes(`{"a":${nested(MAX_JSON_DEPTH - 1)}}`))).toBe(false);
    expect(nestsTooDeep(bytes(`{"a":${nested(MAX_JSON_DEPTH)}}`))).toBe(true);
  });

  it('counts depth, not brackets: many siblings are shallow', () => {
    expect(nestsTooDeep(bytes(`[${'[],'.repeat(10_000)}[]]`))).toBe(false);
  });

  it('skips brackets inside strings, escaped quotes and backslashes included', () => {
    const inText = '['.repeat(200);
    expect(nestsTooDeep(bytes(JSON.stringify({ content: inText })))).toBe(false);
    expect(nestsTooDeep(bytes(JSON.stringify({ content: `say \\"${inText}` })))).toBe(false);
    expect(nestsTooDeep(bytes(JSON.stringify({ content: `a\\`, next: nested(3) })))).toBe(false);
    // A string that ends in a backslash must not hide the brackets after it.
    expect(nestsTooDeep(bytes(`{"a":"x\\\\","b":${nested(MAX_JSON_DEPTH)}}`))).toBe(true);
  });

  it('reads UTF-8 text around the brackets as text', () => {
    expect(nestsTooDeep(bytes(JSON.stringify({ content: `Привет 👋 ${'{'.repeat(100)}` })))).toBe(false);
    expect(nestsTooDeep(bytes(`{"👋":${nested(MAX_JSON_DEPTH)}}`))).toBe(true);
  });

  it('finds an unclosed run of brackets too deep before any parser would call it malformed', () => {
    expect(nestsTooDeep(bytes('['.repeat(2_000_000)))).toBe(true);
  });
});
