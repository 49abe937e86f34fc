import type { Context } from '../context.js';
import { sumAccountUsage, type UsageGroupBy } from '../db/queries/usage.js';
import { ApiError } from '../errors.js';
import { DAY_MS, isoDay } from '../periods.js';

/** The default window: the last 30 UTC days, today included. */
const DEFAULT_DAYS = 30;
/** A leap year plus one day is the longest window one request may sum. */
export const MAX_USAGE_DAYS = 366;

export interface UsageQuery {
  from?: string | undefined;
  to?: string | undefined;
  groupBy: UsageGroupBy;
  /** Only the child keys of this management key (GET /api/management/keys/:id/usage). */
  managementKeyId?: string | undefined;
  /** With groupBy key: the keys that cost most, at most this many, most first. */
  limit?: number | undefined;
}

const GROUP_FIELD = { day: 'day', key: 'key_id', model: 'model' } as const;

export interface UsageReport {
  data: Record<string, string | number>[];
  from: string;
  to: string;
  group_by: UsageGroupBy;
}

/**
 * A real calendar day in YYYY-MM-DD, as UTC midnight in ms; null for 2026-02-30 and the like, and
 * for year 0, which JavaScript reads but Postgres has no date for (1 BC comes before AD 1).
 */
function parseUtcDay(s: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s) || s.startsWith('0000')) return null;
  const ms = Date.parse(`${s}T00:00:00Z`);
  return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== s ? null : ms;
}

function dayParam(param: 'from' | 'to', value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseUtcDay(value);
  if (ms === null) throw ApiError.invalid(param, `${param}: must be a date as YYYY-MM-DD`);
  return ms;
}

/**
 * Settled usage of one account per day, child key or model. A missing `to` is today (UTC, per the
 * context clock); a missing `from` is 29 days before `to`.
 */
export async function accountUsage(ctx: Context, accountId: string, q: UsageQuery): Promise<UsageReport> {
  const today = Math.floor(ctx.clock.now().getTime() / DAY_MS) * DAY_MS;
  const to = dayParam('to', q.to) ?? today;
  const from = dayParam('from', q.from) ?? to - (DEFAULT_DAYS - 1) * DAY_MS;
  if (from > to)
    throw ApiError.invalid(
      'from',
      q.to === undefined
        ? 'from: must not be after to, which is today (UTC) when not given'
        : 'from: must not be after to',
    );
  if ((to - from) / DAY_MS + 1 > MAX_USAGE_DAYS)
    throw ApiError.invalid('from', `from: the range may span at most ${MAX_USAGE_DAYS} days`);

  const range = { from: isoDay(new Date(from)), to: isoDay(new Date(to)) };
  const rows = await sumAccountUsage(ctx.sql, accountId, {
    ...range,
    groupBy: q.groupBy,
    managementKeyId: q.managementKeyId,
    limit: q.limit,
  });
  return {
    // Counts are JSON numbers (they stay far below 2^53); money stays a string.
    data: rows.map((r) => ({
      [GROUP_FIELD[q.groupBy]]: r.group,
      requests: Number(r.requests),
      tokens: Number(r.prompt_tokens + r.completion_tokens),
      prompt_tokens: Number(r.prompt_tokens),
      completion_tokens: Number(r.completion_tokens),
      cost_ngonka: r.cost_ngonka.toString(),
    })),
    ...range,
    group_by: q.groupBy,
  };
}
