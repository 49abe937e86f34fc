import type { Context } from '../../context.js';
import { type KeyLimitUsageRow, keyLimitUsage } from '../../db/queries/limit-usage.js';
import { insertSchedulerEvents, type NewSchedulerEvent } from '../../db/queries/scheduler-events.js';
import { DAY_MS, dayResetsAt, isoDay, monthResetsAt, startOfUtcDay, startOfUtcMonth } from '../../periods.js';
import type { Queues } from '../../queues.js';
import { flushSchedulerEvents } from '../outbox.js';
import { taskWatermark } from '../watermark.js';

export const THRESHOLDS = [80, 100] as const;
/** Overlap between runs, so a settlement committed while the last run read is not missed. */
const OVERLAP_MS = 5 * 60_000;

/**
 * `key.limit_threshold` when a child key's use of its daily or monthly limit reaches 80% and 100%,
 * once per key, limit (and its value), period and threshold (the event's dedupe key). "Use" is what admission counts
 * against the limit: settled spend plus open reservations; at 100% the key admits nothing more until
 * the period resets. Only keys whose use may have moved since the last run are read (a watermark
 * in Redis; without it, everything used this month). A run also looks back at the days its last
 * run did not see end (and the months), so a scheduler down across midnight misses nothing, and at
 * yesterday on every run within ROLLOVER_GRACE_SECONDS of midnight: a request admitted before
 * midnight counts there, and may reach Postgres after the day's first run (a sync chat's hold is
 * written in the background; an api's clock a little behind). Repeats are free: the dedupe key.
 */
export async function limitAlerts(
  ctx: Context,
  queues: Queues,
): Promise<{ raised: number; emitted: number }> {
  const now = ctx.clock.now();
  const watermark = taskWatermark(ctx, 'limit-alerts');
  const lastRun = await watermark.lastRun(now);
  const events: NewSchedulerEvent[] = [];
  for (const p of periodsToCheck(now, lastRun, ctx.config.ROLLOVER_GRACE_SECONDS * 1000)) {
    const monthStart = startOfUtcMonth(p.at);
    const since = lastRun
      ? new Date(Math.max(lastRun.getTime() - OVERLAP_MS, monthStart.getTime()))
      : monthStart;
    const rows = await keyLimitUsage(ctx.sql, {
      day: isoDay(p.at),
      monthStart: isoDay(monthStart),
      monthEnd: isoDay(monthResetsAt(p.at)),
      since,
    });
    events.push(...rows.flatMap((r) => thresholdEvents(r, p.at, { limits: p.limits, createdAt: now })));
  }
  const raised = await insertSchedulerEvents(ctx.sql, events);
  await watermark.ranAt(now);
  return { raised, emitted: await flushSchedulerEvents(ctx, queues) };
}

export type LimitKind = 'daily' | 'monthly';

/** How many closed days a run looks back at, at most (a scheduler down longer misses the older). */
const MAX_LOOKBACK_DAYS = 35;

/**
 * The periods a run looks at, each as an instant inside it: the current day and month; the closed
 * days since the last run's (all of them, up to MAX_LOOKBACK_DAYS: it did not see them end), or
 * yesterday when the last run is unknown; yesterday again while `graceMs` of today has not passed.
 * A closed month is looked at with its last day so looked at. In the middle of a day, past the
 * grace, a run looks at the current periods only.
 */
export function periodsToCheck(
  now: Date,
  lastRun: Date | null,
  graceMs: number,
): { at: Date; limits: readonly LimitKind[] }[] {
  const out: { at: Date; limits: readonly LimitKind[] }[] = [{ at: now, limits: ['daily', 'monthly'] }];
  const today = startOfUtcDay(now).getTime();
  const thisMonth = startOfUtcMonth(now).getTime();
  let first = lastRun ? startOfUtcDay(lastRun).getTime() : today - DAY_MS;
  if (now.getTime() - today < graceMs) first = Math.min(first, today - DAY_MS);
  first = Math.max(first, today - MAX_LOOKBACK_DAYS * DAY_MS);
  for (let day = first; day < today; day += DAY_MS) {
    const next = day + DAY_MS;
    const endsClosedMonth = day < thisMonth && (next === today || new Date(next).getUTCDate() === 1);
    out.push({ at: new Date(day), limits: endsClosedMonth ? ['daily', 'monthly'] : ['daily'] });
  }
  return out;
}

/**
 * The thresholds a key has reached in the day and month of `at`, as events (duplicates of earlier
 * ones are dropped on insert), recorded at `createdAt` (default `at`).
 */
export function thresholdEvents(
  r: KeyLimitUsageRow,
  at: Date,
  opts: { limits?: readonly LimitKind[]; createdAt?: Date } = {},
): NewSchedulerEvent[] {
  const limits = opts.limits ?? ['daily', 'monthly'];
  const periods = [
    {
      limit: 'daily' as const,
      cap: r.limit_daily_ngonka,
      settled: r.day_settled,
      reserved: r.day_reserved,
      period: isoDay(at),
      resetsAt: dayResetsAt(at),
    },
    {
      limit: 'monthly' as const,
      cap: r.limit_monthly_ngonka,
      settled: r.month_settled,
      reserved: r.month_reserved,
      period: isoDay(at).slice(0, 7),
      resetsAt: monthResetsAt(at),
    },
  ].filter((p) => limits.includes(p.limit));
  const out: NewSchedulerEvent[] = [];
  for (const p of periods) {
    // A zero limit blocks a key on purpose; "100% of nothing" would only be noise.
    if (p.cap === null || p.cap <= 0n) continue;
    const used = p.settled + p.reserved;
    for (const threshold of THRESHOLDS) {
      if (used * 100n < p.cap * BigInt(threshold)) continue;
      out.push({
        // The limit's value in it: a limit raised after its 80% alert alerts again at 80% of the new one.
        dedupeKey: `key.limit_threshold:${r.id}:${p.limit}:${p.period}:${threshold}:${p.cap}`,
        accountId: r.account_id,
        type: 'key.limit_threshold',
        data: {
          key_id: r.id,
          management_key_id: r.management_key_id,
          // Who it is about: the key's name and the owner's own references (its customer's id, say).
          name: r.name,
          metadata: r.metadata,
          limit: p.limit,
          threshold,
          spent_ngonka: used.toString(),
          settled_ngonka: p.settled.toString(),
          reserved_ngonka: p.reserved.toString(),
          limit_ngonka: p.cap.toString(),
          period: p.period,
          resets_at: p.resetsAt.toISOString(),
        },
        createdAt: opts.createdAt ?? at,
      });
    }
  }
  return out;
}
