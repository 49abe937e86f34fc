import { groupBy } from '../../shared/group-by.js';
import type { HoldRow, PostingRow } from './books.js';
import type { KeyHistory, Refusal } from './journal.js';

/**
 * Admission's promises checked after the fact, from the holds' timestamps. A hold's `created_at`
 * is the clock its admission read just before the Lua step; that step ran at most `slackMs` later
 * (the same instant is the RPM window's score and the expiry check's "now"). A hold counts against
 * its key's limits and its account's balance from its admission on: its amount while open, what it
 * posted once resolved (`resolved_at` is read before the settlement commits, and Redis is released
 * after it, so by then Redis still counts at least that). So at τ = created(h) + slack, what holds
 * admitted by τ - slack count is a lower bound of what Redis counted at h's admission, when a limit
 * was checked; where that lower bound is over the limit, admission let a request through that the
 * limit should have stopped. Where the answer of a change and a hold are within slack of each
 * other, either value of the setting counts as in force.
 */

const weightAt = (h: HoldRow, at: number): bigint =>
  h.resolved_at && h.resolved_at.getTime() <= at ? (h.posted_amount ?? 0n) : h.amount;

const ms = (d: Date) => d.getTime();
// biome-ignore lint/complexity/useMathMinMax: Math.max takes no bigint
const max = (xs: bigint[]) => xs.reduce((a, b) => (a < b ? b : a));

/** Lower bound, at `at`, of what holds admitted by `at - slack` count. */
function countedAt(holds: readonly HoldRow[], at: number, slackMs: number): bigint {
  let sum = 0n;
  for (const g of holds) {
    if (ms(g.created_at) + slackMs > at) break; // sorted by created_at
    sum += weightAt(g, at);
  }
  return sum;
}

/** A key's daily and monthly counters never passed the limit in force when a request was admitted. */
export function limitOvershoots(
  keyHolds: readonly HoldRow[],
  history: KeyHistory,
  slackMs: number,
): string[] {
  const out: string[] = [];
  const periods = [
    { setting: 'limit_daily_ngonka' as const, of: (h: HoldRow) => h.period_day },
    { setting: 'limit_monthly_ngonka' as const, of: (h: HoldRow) => h.period_day.slice(0, 7) },
  ];
  for (const { setting, of } of periods) {
    const byPeriod = groupBy(keyHolds, of);
    for (const [period, holds] of byPeriod) {
      for (const h of holds) {
        const at = ms(h.created_at) + slackMs;
        const limits = history.valuesDuring(setting, ms(h.created_at), at);
        if (limits.includes(null)) continue;
        const limit = max(limits as bigint[]);
        const counted = countedAt(holds, at, slackMs);
        if (counted > limit)
          out.push(`${h.child_key_id} ${period}: ${counted} counted after ${h.id}, limit ${limit}`);
      }
    }
  }
  return out;
}

/** An account's available balance (credits less what its holds count) never went below zero. */
export function balanceOvershoots(
  accountHolds: readonly HoldRow[],
  credits: readonly PostingRow[],
  slackMs: number,
): string[] {
  const out: string[] = [];
  for (const h of accountHolds) {
    const at = ms(h.created_at) + slackMs;
    const credited = credits.filter((c) => ms(c.created_at) <= at).reduce((s, c) => s + c.amount, 0n);
    const counted = countedAt(accountHolds, at, slackMs);
    if (counted > credited)
      out.push(`${h.account_id}: ${counted} held or charged after ${h.id}, ${credited} credited`);
  }
  return out;
}

/**
 * Whether a hold took a slot of its key's RPM window: only admissions under an RPM limit are
 * recorded in it (admit-9.lua). `surely`: a limit was in force whatever the instant of its Lua step;
 * otherwise: one may have been.
 */
function tookSlot(g: HoldRow, history: KeyHistory, slackMs: number, surely: boolean): boolean {
  const limits = history.valuesDuring('rate_limit_rpm', ms(g.created_at), ms(g.created_at) + slackMs);
  return surely ? !limits.includes(null) : limits.some((l) => l !== null);
}

/** No key admitted more than its RPM limit in any rolling 60 s. */
export function rpmOvershoots(
  keyHolds: readonly HoldRow[],
  history: KeyHistory,
  slackMs: number,
  /**
   * When the key's sync chats were answered 503 upstream_unavailable: each gave its slot back
   * (giveBackRpmIfNoCapacity), its hold left in Postgres, voided. A 503 answer names no hold, so
   * each one in the minute frees one of the window's slots.
   */
  givenBack: readonly number[] = [],
): string[] {
  const out: string[] = [];
  for (const h of keyHolds) {
    const t = ms(h.created_at);
    const limits = history.valuesDuring('rate_limit_rpm', t, t + slackMs);
    if (limits.includes(null)) continue;
    const limit = Math.max(...(limits as number[]));
    const before = keyHolds.filter(
      (g) =>
        ms(g.created_at) > t - 60_000 &&
        ms(g.created_at) <= t - slackMs &&
        tookSlot(g, history, slackMs, true),
    );
    const freed = givenBack.filter((at) => at > t - 60_000 && at <= t).length;
    if (before.length - freed + 1 > limit)
      out.push(`${h.child_key_id}: ${before.length + 1} admitted in the 60 s up to ${h.id}, limit ${limit}`);
  }
  return out;
}

/**
 * Each 429 rate_limit_exceeded had the key's window full: at least the RPM limit's number of
 * requests admitted in the 60 s before it (refused requests take no slot). A window Redis lost (at
 * the instants `redisLosses`) is rebuilt from the key's holds of the last 60 s (rpm-window.ts),
 * those admitted while it had no RPM limit included: after a loss they count too, as they do once a
 * limit is set where there was none (the window takes in the minute before it). A request that
 * a killed api admitted without recording its hold (`unrecorded`: no answer came, or its hold
 * never reached Postgres; `sentAt` at the latest when it was answered) may hold a slot too, until
 * a Redis loss took it (`until`, where known).
 */
export function unfounded429s(
  refusals: readonly Refusal[],
  keyHolds: readonly HoldRow[],
  history: KeyHistory,
  slackMs: number,
  redisLosses: readonly number[] = [],
  unrecorded: readonly { sentAt: number; until?: number | undefined }[] = [],
): string[] {
  const out: string[] = [];
  for (const r of refusals) {
    const limits = history
      .valuesDuring('rate_limit_rpm', r.sentAt - slackMs, r.answeredAt + slackMs)
      .filter((l): l is number => l !== null);
    const inWindow = keyHolds.filter(
      (g) =>
        ms(g.created_at) > r.sentAt - 60_000 - slackMs &&
        ms(g.created_at) <= r.answeredAt + slackMs &&
        (tookSlot(g, history, slackMs, false) ||
          redisLosses.some((at) => ms(g.created_at) <= at + slackMs && at <= r.answeredAt + slackMs) ||
          history.rpmLimitSetDuring(ms(g.created_at) - slackMs, r.answeredAt + slackMs)),
    ).length;
    const maybeInWindow = unrecorded.filter(
      (u) =>
        u.sentAt > r.sentAt - 60_000 - slackMs &&
        u.sentAt <= r.answeredAt + slackMs &&
        (u.until === undefined || r.sentAt <= u.until + slackMs),
    ).length;
    if (limits.length === 0) out.push(`${r.keyId}: 429 at ${r.sentAt} with no RPM limit in force`);
    else if (inWindow + maybeInWindow < Math.min(...limits))
      out.push(
        `${r.keyId}: 429 at ${r.sentAt} with ${inWindow} admitted in its window, limit ${Math.min(...limits)}`,
      );
  }
  return out;
}

/** No hold was admitted on a key while it was disabled, deleted or expired. */
export function holdsWhileStopped(
  keyHolds: readonly HoldRow[],
  history: KeyHistory,
  slackMs: number,
): string[] {
  return keyHolds
    .filter(
      (h) =>
        !history
          .valuesDuring('usable', ms(h.created_at) - slackMs, ms(h.created_at) + slackMs)
          .includes(true),
    )
    .map(
      (h) => `${h.child_key_id}: ${h.id} admitted at ${h.created_at.toISOString()} while the key was stopped`,
    );
}
