import { describe, expect, it } from 'vitest';
import { secretMatcher } from '../../shared/bearer.js';

describe('secretMatcher', () => {
  it('takes the secret alone, whatever the length or content of a wrong guess', () => {
    const matches = secretMatcher('an-admin-token-of-32-characters!');
    expect(matches('an-admin-token-of-32-characters!')).toBe(true);
    for (const guess of [
      '',
      'a',
      'an-admin-token-of-32-characters',
      'an-admin-token-of-32-characters!!',
      null,
      undefined,
    ])
      expect(matches(guess)).toBe(false);
  });
});
