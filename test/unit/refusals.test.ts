import { describe, expect, it } from 'vitest';
import { refusalError } from '../../shared/admission/refusals.js';

const now = new Date('2026-12-05T12:00:00.000Z');

describe('a child_key_limit refusal', () => {
  it('says the limit is reached when nothing is left, else that this request’s worst case does not fit', () => {
    const spent = refusalError(['limit', '0', '500', 0], now);
    expect(spent).toMatchObject({
      type: 'child_key_limit',
      message: 'This key has reached its spending limit',
      extra: { daily_remaining: '0', monthly_remaining: '500', daily_resets_at: '2026-12-06T00:00:00.000Z' },
    });
    const tooBig = refusalError(['limit', '34', '-1', 0], now);
    expect(tooBig.extra).toMatchObject({ daily_remaining: '34', monthly_remaining: null });
    expect(tooBig.message).toMatch(/^This request's maximum cost .* lower max_tokens/);
  });
});
