import { describe, expect, it } from 'vitest';
import type { HoldRow } from '../../scripts/soak/books.js';
import { KeyHistory } from '../../scripts/soak/journal.js';
import { rpmOvershoots, unfounded429s } from '../../scripts/soak/timeline.js';

/**
 * The soak's judgement of a 429: the key's RPM window was full. Requests a killed api admitted
 * took their slots but left no hold (the write died with the api): the check must not call a 429
 * after them unfounded, and must still call one unfounded when nothing could have filled the window.
 */
const T0 = Date.parse('2026-12-04T12:00:00Z');
const history = () =>
  new KeyHistory({ limit_daily_ngonka: null, limit_monthly_ngonka: null, rate_limit_rpm: 3, usable: true });
const holdAt = (ms: number, i: number) =>
  ({ id: `hold_${i}`, child_key_id: 'ck_1', created_at: new Date(T0 + ms) }) as HoldRow;
const refusal = {
  keyId: 'ck_1',
  status: 429 as const,
  type: 'rate_limit_exceeded',
  sentAt: T0 + 10_000,
  answeredAt: T0 + 10_005,
};

describe('soak: unfounded 429s', () => {
  it('calls a 429 with the window not full unfounded', () => {
    const holds = [holdAt(1_000, 1), holdAt(2_000, 2)];
    expect(unfounded429s([refusal], holds, history(), 50)).toEqual([
      `ck_1: 429 at ${refusal.sentAt} with 2 admitted in its window, limit 3`,
    ]);
  });

  it('counts a request that got no answer (an api killed under it) as a slot it may hold', () => {
    const holds = [holdAt(1_000, 1), holdAt(2_000, 2)];
    expect(unfounded429s([refusal], holds, history(), 50, [], [{ sentAt: T0 + 3_000 }])).toEqual([]);
    // One sent over a minute before the 429 has left the window.
    expect(unfounded429s([refusal], holds, history(), 50, [], [{ sentAt: T0 - 55_000 }])).toHaveLength(1);
  });

  it('counts a slot a Redis loss took (a killed worker’s batch line) only for a 429 before the loss', () => {
    const holds = [holdAt(1_000, 1), holdAt(2_000, 2)];
    const line = (lostAt: number) => [{ sentAt: T0 + 3_000, until: T0 + lostAt }];
    expect(unfounded429s([refusal], holds, history(), 50, [], line(12_000))).toEqual([]);
    expect(unfounded429s([refusal], holds, history(), 50, [], line(9_000))).toEqual([
      `ck_1: 429 at ${refusal.sentAt} with 2 admitted in its window, limit 3`,
    ]);
  });

  it('counts requests made without a limit once a limit is set on the key within their minute', () => {
    const unlimited = new KeyHistory({
      limit_daily_ngonka: null,
      limit_monthly_ngonka: null,
      rate_limit_rpm: null,
      usable: true,
    });
    const holds = [holdAt(1_000, 1), holdAt(2_000, 2), holdAt(3_000, 3)];
    // No limit yet when the 429 came: unfounded whatever the window held.
    expect(unfounded429s([refusal], holds, unlimited, 50)).toHaveLength(1);
    unlimited.record('rate_limit_rpm', 3, T0 + 5_000, T0 + 5_010); // PATCH: none → 3
    expect(unfounded429s([refusal], holds, unlimited, 50)).toEqual([]);
    // A limit changed from one number to another counts no request made without one.
    const limited = history();
    limited.record('rate_limit_rpm', 4, T0 + 5_000, T0 + 5_010);
    expect(unfounded429s([refusal], holds.slice(0, 2), limited, 50)).toHaveLength(1);
  });
});

describe('soak: RPM overshoots', () => {
  it('counts a slot a 503 gave back as free: a fourth request after one is no overshoot', () => {
    // Limit 3: three holds, the second answered 503 (its slot given back), then a fourth.
    const holds = [holdAt(1_000, 1), holdAt(2_000, 2), holdAt(3_000, 3), holdAt(10_000, 4)];
    expect(rpmOvershoots(holds, history(), 50)).toEqual([
      'ck_1: 4 admitted in the 60 s up to hold_4, limit 3',
    ]);
    expect(rpmOvershoots(holds, history(), 50, [T0 + 2_100])).toEqual([]);
    // A 503 answered over a minute before frees nothing in this window.
    expect(rpmOvershoots(holds, history(), 50, [T0 - 61_000])).toHaveLength(1);
  });
});
