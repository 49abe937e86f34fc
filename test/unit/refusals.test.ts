import { describe, expect, it } from 'vitest';
import { childKeyRefusal } from '../../shared/admission/key-standing.js';
import { refusalError } from '../../shared/admission/refusals.js';

const now = new Date('2026-12-05T12:00:00.000Z');

describe('a child_key_limit refusal', () => {
  it('says the limit is reached when nothing is left, else that this request’s worst case does not fit', () => {
    const spent = refusalError(['limit', '0', '500', 0], now);
    expect(spent).toMatchObject({
      type: 'child_key_limit',
      message: expect.stringMatching(
        /^This key has reached its spending limit \(requests not billed yet count/,
      ),
      extra: { daily_remaining: '0', monthly_remaining: '500', daily_resets_at: '2026-12-06T00:00:00.000Z' },
    });
    const tooBig = refusalError(['limit', '34', '-1', 0], now);
    // No monthly limit: its remaining is null; its reset is still the month's end, a string (API.md).
    expect(tooBig.extra).toMatchObject({
      daily_remaining: '34',
      monthly_remaining: null,
      daily_resets_at: '2026-12-06T00:00:00.000Z',
      monthly_resets_at: '2027-01-01T00:00:00.000Z',
    });
    expect(tooBig.message).toMatch(/^This request's maximum cost .* lower max_tokens/);
  });
});

describe('a child key’s standing read from Postgres (childKeyRefusal)', () => {
  const now = new Date('2026-12-06T12:00:00Z');
  const past = new Date('2026-12-06T11:59:59Z');
  const codeOf = (row: Parameters<typeof childKeyRefusal>[0]) =>
    childKeyRefusal(row, now)?.extra?.code ?? null;

  it('says what admission says, in its order: a revoked parent, then deleted, expiry, status', () => {
    expect(codeOf({ status: 'active', expires_at: null, mk_status: 'active' })).toBeNull();
    expect(codeOf({ status: 'disabled', expires_at: null, mk_status: 'active' })).toBe('key_disabled');
    expect(codeOf({ status: 'disabled', expires_at: past, mk_status: 'active' })).toBe('key_expired');
    expect(codeOf({ status: 'active', expires_at: now, mk_status: 'active' })).toBe('key_expired');
    expect(codeOf({ status: 'deleted', expires_at: past, mk_status: 'active' })).toBe('key_revoked');
    expect(codeOf({ status: 'disabled', expires_at: past, mk_status: 'revoked' })).toBe('key_revoked');
  });
});
