import { describe, expect, it } from 'vitest';
import { throttleNetwork } from '../../shared/accounts/attempt-throttle.js';

describe('throttleNetwork (what login and registration attempts are counted under)', () => {
  it('is an IPv4 address itself, written plainly or mapped into IPv6', () => {
    expect(throttleNetwork('203.0.113.7')).toBe('203.0.113.7');
    expect(throttleNetwork('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it("is an IPv6 address's /64, however the address is written", () => {
    expect(throttleNetwork('2001:db8:7:1::1')).toBe('2001:db8:7:1::/64');
    expect(throttleNetwork('2001:0db8:0007:0001:ffff:1:2:3')).toBe('2001:db8:7:1::/64');
    expect(throttleNetwork('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(throttleNetwork('::1')).toBe('0:0:0:0::/64');
  });

  it('leaves what is not an address as it is', () => {
    expect(throttleNetwork('unknown')).toBe('unknown');
  });
});
