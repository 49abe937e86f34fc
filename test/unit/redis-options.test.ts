import { describe, expect, it } from 'vitest';
import { redisOptionsFromUrl } from '../../shared/redis/client.js';

describe('BullMQ connection options', () => {
  it('reconnect at most 2 s apart however long Redis was away (BullMQ’s own wait grows to 20 s)', () => {
    const { retryStrategy } = redisOptionsFromUrl('redis://127.0.0.1:6379');
    expect(retryStrategy(1)).toBe(50);
    expect(Math.max(...Array.from({ length: 200 }, (_, i) => retryStrategy(i + 1)))).toBe(2000);
  });
});
