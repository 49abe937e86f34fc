import type { Context } from '../../context.js';
import {
  closeDay,
  closeMonth,
  oldestClosingPeriod,
  type PeriodKind,
  periodsToClose,
} from '../../db/queries/usage-periods.js';
import { isoDay, startOfUtcDay, startOfUtcMonth } from '../../periods.js';
import { prunePeriodCounters } from '../prune-counters.js';

const BATCH = 100;
const compact = (iso: string) => iso.replaceAll('-', '');
/** The earlier of two ISO dates (string order is date order). */
const earlier = (a: string, b: string) => (a.localeCompare(b) <= 0 ? a : b);

export interface RolloverResult {
  days: { closed: string[]; closing: string[] };
  months: { closed: string[]; closing: string[] };
  pruned: number;
}

/**
 * UTC day and month rollover. Admission needs no reset (counters are keyed by period), so this is
 * bookkeeping: every past period is closed with its totals (a month also gets its per-key
 * key_usage_monthly rows); a period stays `closing` while a hold admitted in it is open, because
 * that hold still settles into it, and is looked at again on the next run. Once periods are closed
 * their Redis counters are pruned. Periods are closed only ROLLOVER_GRACE_SECONDS after they end,
 * so a process whose clock lags a little cannot admit into a period already closed, and a sync
 * request admitted just before the end is settled first even when its hold's write failed at
 * admission (no open hold in Postgres keeps the period `closing`; settlement writes it, up to
 * SYNC_STREAM_MAX_SECONDS + HOLD_GRACE_SECONDS later, which config validation holds the grace to;
 * a settlement held up longer, by workers down or a backlog, can still land after the close).
 */
/**
 * Close a month in a repeatable-read transaction, again when another closing of the same month
 * (a second scheduler, a stale leader) committed first: Postgres refuses the second with a
 * serialization failure, and closing it again then finds it closed. Harmless, but not an error.
 */
async function closeMonthRetrying(ctx: Context, month: string, now: Date) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.sql.begin('isolation level repeatable read', (tx) => closeMonth(tx, month, now));
    } catch (err) {
      if ((err as { code?: string }).code !== SERIALIZATION_FAILURE || attempt >= 3) throw err;
    }
  }
}

/** Postgres's SQLSTATE for a transaction another one's commit made impossible to serialize. */
const SERIALIZATION_FAILURE = '40001';

export async function rollover(ctx: Context): Promise<RolloverResult> {
  const now = ctx.clock.now();
  const settled = new Date(now.getTime() - ctx.config.ROLLOVER_GRACE_SECONDS * 1000);
  const before = { day: isoDay(startOfUtcDay(settled)), month: isoDay(startOfUtcMonth(settled)) };

  const close = async (kind: PeriodKind) => {
    const out = { closed: [] as string[], closing: [] as string[] };
    const seen = new Set<string>();
    for (;;) {
      // Periods left `closing` come back in every batch; stop once a batch has nothing new.
      const due = (await periodsToClose(ctx.sql, kind, before[kind], BATCH + seen.size)).filter(
        (p) => !seen.has(p),
      );
      if (due.length === 0) return out;
      for (const p of due) {
        seen.add(p);
        const status =
          kind === 'day' ? await closeDay(ctx.sql, p, now) : await closeMonthRetrying(ctx, p, now);
        out[status].push(p);
      }
    }
  };
  const days = await close('day');
  const months = await close('month');

  let pruned = 0;
  if (days.closed.length || months.closed.length) {
    // Counters of the oldest period still waiting for holds (and everything after it) stay.
    const keepDay = (await oldestClosingPeriod(ctx.sql, 'day')) ?? before.day;
    const keepMonth = (await oldestClosingPeriod(ctx.sql, 'month')) ?? before.month;
    pruned = await prunePeriodCounters(ctx, {
      day: compact(earlier(keepDay, before.day)),
      month: compact(earlier(keepMonth, before.month)).slice(0, 6),
    });
  }
  return { days, months, pruned };
}
