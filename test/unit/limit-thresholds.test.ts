import { describe, expect, it } from 'vitest';
import type { KeyLimitUsageRow } from '../../shared/db/queries/limit-usage.js';
import { periodsToCheck, thresholdEvents } from '../../shared/scheduler/tasks/limit-alerts.js';
import { limitUsageRow } from '../helpers/limit-usage-row.js';

const row = limitUsageRow;
const at = new Date('2028-02-29T23:59:59.000Z');
const keys = (r: KeyLimitUsageRow) => thresholdEvents(r, at).map((e) => e.dedupeKey);

describe('limit threshold events', () => {
  it('fires at exactly 80% and 100%, counting reservations, with the period and the limit in the dedupe key', () => {
    expect(keys(row({ limit_daily_ngonka: 1000n, day_settled: 799n }))).toEqual([]);
    expect(keys(row({ limit_daily_ngonka: 1000n, day_settled: 700n, day_reserved: 100n }))).toEqual([
      'key.limit_threshold:ck_1:daily:2028-02-29:80:1000',
    ]);
    expect(keys(row({ limit_monthly_ngonka: 3n, month_settled: 3n }))).toEqual([
      'key.limit_threshold:ck_1:monthly:2028-02:80:3',
      'key.limit_threshold:ck_1:monthly:2028-02:100:3',
    ]);
  });

  it('never fires for no limit or a zero limit, and works past 2^53 nGNK', () => {
    expect(keys(row({ day_settled: 10n ** 20n }))).toEqual([]);
    expect(keys(row({ limit_daily_ngonka: 0n }))).toEqual([]);
    const big = 9_007_199_254_740_993n * 1000n;
    const [e] = thresholdEvents(row({ limit_daily_ngonka: big, day_settled: (big * 4n) / 5n }), at);
    expect(e?.data).toMatchObject({
      limit: 'daily',
      threshold: 80,
      spent_ngonka: ((big * 4n) / 5n).toString(),
      limit_ngonka: big.toString(),
      resets_at: '2028-03-01T00:00:00.000Z',
    });
  });

  it('evaluates the limits asked for, in the day and month of the instant given', () => {
    const r = row({
      limit_daily_ngonka: 10n,
      day_settled: 10n,
      limit_monthly_ngonka: 10n,
      month_settled: 10n,
    });
    const created = new Date('2028-03-01T00:00:00.000Z');
    const events = thresholdEvents(r, at, { limits: ['monthly'], createdAt: created });
    expect(events.map((e) => e.dedupeKey)).toEqual([
      'key.limit_threshold:ck_1:monthly:2028-02:80:10',
      'key.limit_threshold:ck_1:monthly:2028-02:100:10',
    ]);
    expect(events[0]).toMatchObject({ createdAt: created, data: { resets_at: '2028-03-01T00:00:00.000Z' } });
  });
});

describe('periods a limit-alerts run looks at', () => {
  /** With the default ROLLOVER_GRACE_SECONDS (24 minutes) unless said. */
  const look = (now: string, last: string | null, graceS = 1440) =>
    periodsToCheck(new Date(now), last ? new Date(last) : null, graceS * 1000).map(
      (p) => `${p.at.toISOString().slice(0, 10)} ${p.limits.join('+')}`,
    );

  it('only the current ones in the middle of a day', () => {
    expect(look('2026-12-31T23:59:30.000Z', '2026-12-31T23:59:00.000Z')).toEqual([
      '2026-12-31 daily+monthly',
    ]);
    expect(look('2027-01-01T00:24:30.000Z', '2027-01-01T00:24:00.000Z')).toEqual([
      '2027-01-01 daily+monthly',
    ]);
  });

  it('also the day just closed on the first run of a day, and its month on the first run of a month', () => {
    expect(look('2027-01-15T00:00:00.000Z', '2027-01-14T23:59:30.000Z')).toEqual([
      '2027-01-15 daily+monthly',
      '2027-01-14 daily',
    ]);
    expect(look('2027-01-01T00:00:00.000Z', '2026-12-31T23:59:30.000Z')).toEqual([
      '2027-01-01 daily+monthly',
      '2026-12-31 daily+monthly',
    ]);
    expect(look('2028-03-01T00:00:10.000Z', null)).toEqual([
      '2028-03-01 daily+monthly',
      '2028-02-29 daily+monthly',
    ]);
  });

  it('yesterday again on every run within the rollover grace: a hold may reach Postgres late', () => {
    expect(look('2027-01-01T00:00:30.000Z', '2027-01-01T00:00:00.000Z')).toEqual([
      '2027-01-01 daily+monthly',
      '2026-12-31 daily+monthly',
    ]);
    expect(look('2027-01-15T00:23:59.000Z', '2027-01-15T00:23:30.000Z')).toEqual([
      '2027-01-15 daily+monthly',
      '2027-01-14 daily',
    ]);
    expect(look('2027-01-15T00:00:30.000Z', '2027-01-15T00:00:00.000Z', 10)).toEqual([
      '2027-01-15 daily+monthly',
    ]);
  });

  it('every day the last run did not see end, and each month among them, after a scheduler outage', () => {
    expect(look('2027-02-02T08:00:00.000Z', '2027-01-30T10:00:00.000Z')).toEqual([
      '2027-02-02 daily+monthly',
      '2027-01-30 daily',
      '2027-01-31 daily+monthly',
      '2027-02-01 daily',
    ]);
    // Down across two month ends: each closed month once, with its last day.
    const looked = look('2027-03-02T12:00:00.000Z', '2027-01-31T12:00:00.000Z');
    expect(looked.filter((p) => p.endsWith('monthly'))).toEqual([
      '2027-03-02 daily+monthly',
      '2027-01-31 daily+monthly',
      '2027-02-28 daily+monthly',
    ]);
    expect(looked).toHaveLength(1 + 30);
    // At most 35 closed days back.
    expect(look('2027-06-01T12:00:00.000Z', '2027-01-01T12:00:00.000Z')).toHaveLength(1 + 35);
  });
});
