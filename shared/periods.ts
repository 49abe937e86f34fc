/**
 * UTC accounting periods. Counters are keyed by period (`20261126`, `202611`), so a new UTC day or
 * month needs no reset to be correct.
 */
/** One UTC day, in ms (UTC has no daylight saving: every day is this long). */
export const DAY_MS = 86_400_000;

export function dayKey(at: Date): string {
  return isoDay(at).replaceAll('-', '');
}

export function monthKey(at: Date): string {
  return at.toISOString().slice(0, 7).replace('-', '');
}

/** The UTC date as Postgres takes it (`2026-11-26`): a hold's period_day, a date bound of a query. */
export function isoDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export function startOfUtcDay(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

export function startOfUtcMonth(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** When the daily limit next resets: the coming 00:00 UTC. */
export function dayResetsAt(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1));
}

/** When the monthly limit next resets: 00:00 UTC on the coming 1st. */
export function monthResetsAt(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
}
