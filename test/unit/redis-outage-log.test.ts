import { describe, expect, it } from 'vitest';
import { OUTAGE_REMINDER_MS, RedisOutageLog } from '../../shared/redis/outage-log.js';
import { capturedLogger } from '../helpers/logs.js';

describe('a long Redis outage', () => {
  it('is a warning when it starts, a reminder at most every 30 s, and one info line when the last connection is back', () => {
    const { logger, lines } = capturedLogger('debug');
    let now = 0;
    const outage = new RedisOutageLog(logger, 'workers', () => now);
    const [a, b] = [{}, {}];
    const refused = new Error('connect ECONNREFUSED');
    // Two connections retrying four times a second for 70 s.
    for (; now <= 70_000; now += 250) {
      outage.failed(a, refused);
      outage.failed(b, refused);
    }
    outage.ready(a);
    outage.ready(b);
    expect(lines.map((l) => [l.msg, l.level, l.downSeconds])).toEqual([
      ['redis out of reach', 40, undefined],
      ['redis still out of reach', 40, OUTAGE_REMINDER_MS / 1000],
      ['redis still out of reach', 40, (2 * OUTAGE_REMINDER_MS) / 1000],
      ['redis reachable again', 30, 70],
    ]);
    expect(lines.every((l) => l.connection === 'workers')).toBe(true);
  });
});
