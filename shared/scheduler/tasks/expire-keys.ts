import { publishChildKeyState } from '../../admission/key-state.js';
import type { Context } from '../../context.js';
import {
  expireDueChildKeys,
  type UnannouncedExpiryRow,
  unannouncedDisabledExpiries,
} from '../../db/queries/expire-keys.js';
import { insertSchedulerEvents, type NewSchedulerEvent } from '../../db/queries/scheduler-events.js';
import { DAY_MS } from '../../periods.js';
import type { Queues } from '../../queues.js';
import { flushSchedulerEvents } from '../outbox.js';
import { taskWatermark } from '../watermark.js';

const BATCH = 500;

/**
 * TTL expiry: every active key past `expires_at` becomes `expired` (version + 1) with its
 * `key.expired` event recorded in the same transaction, then its Redis state is republished and
 * the events are emitted. Admission already refuses the key from the instant it expires (the Redis
 * state carries `exp`); this makes the status visible and tells the owner. Catches up on any
 * backlog, and a key is flipped once however many runs race. A disabled key's expiry is announced
 * as well, its status kept.
 */
export async function expireKeys(
  ctx: Context,
  queues: Queues,
): Promise<{ expired: number; emitted: number }> {
  let expired = 0;
  for (;;) {
    const now = ctx.clock.now();
    const keys = await ctx.sql.begin(async (tx) => {
      const rows = await expireDueChildKeys(tx, now, BATCH);
      await insertSchedulerEvents(
        tx,
        rows.map((k) => expiredEvent(k, now)),
      );
      return rows;
    });
    for (const k of keys) {
      // If Redis is down the key is still refused there by its `exp`; reconciliation reports the
      // stale version and the next admission load or --fix brings it up to date.
      await publishChildKeyState(ctx, k).catch((err: unknown) =>
        ctx.logger.warn({ err, keyId: k.id }, 'publishing an expired key to Redis failed'),
      );
    }
    expired += keys.length;
    if (keys.length < BATCH) break;
  }
  await announceDisabledExpiries(ctx);
  return { expired, emitted: await flushSchedulerEvents(ctx, queues) };
}

/** How far back a run without a watermark looks (the migration marked older expiries as told). */
const LOOKBACK_MS = 35 * DAY_MS;
/** Overlap between runs: a key disabled just as its expiry passed, before it was flipped, is seen. */
const OVERLAP_MS = 5 * 60_000;

/**
 * A disabled key's expiry is announced too (its GET says `expired` from then on), its status left
 * as it is, once. Nothing to publish: admission refuses it already, by its status and its `exp`.
 * Each run looks at the expiries since the last run's (a watermark in Redis; without one, 35 days).
 * A failure is logged and left to the next run, which looks from the same watermark: the active
 * keys' events are flushed all the same.
 */
async function announceDisabledExpiries(ctx: Context): Promise<void> {
  const watermark = taskWatermark(ctx, 'disabled-expiries');
  try {
    const now = ctx.clock.now();
    const from = ((await watermark.lastRun(now))?.getTime() ?? 0) - OVERLAP_MS;
    const since = new Date(Math.max(from, now.getTime() - LOOKBACK_MS));
    for (;;) {
      const rows = await unannouncedDisabledExpiries(ctx.sql, { since, now }, BATCH);
      // Two runs at once find the same rows; the dedupe key records each event once. A full batch
      // none of which was new was taken by another run: the next run goes on from there.
      const recorded = await insertSchedulerEvents(
        ctx.sql,
        rows.map((k) => expiredEvent(k, now)),
      );
      if (rows.length < BATCH || recorded === 0) break;
    }
    await watermark.ranAt(now);
  } catch (err) {
    ctx.logger.warn({ err }, 'announcing disabled keys’ expiry failed; the next run tries again');
  }
}

function expiredEvent(k: UnannouncedExpiryRow, now: Date): NewSchedulerEvent {
  return {
    // The expiry instant is part of the key: a key given a new TTL can expire again.
    dedupeKey: `key.expired:${k.id}:${k.expires_at.getTime()}`,
    accountId: k.account_id,
    type: 'key.expired',
    data: {
      key_id: k.id,
      management_key_id: k.management_key_id,
      name: k.name,
      // The owner's own references (its customer's id, say): who the event is about.
      metadata: k.metadata,
      expires_at: k.expires_at.toISOString(),
    },
    createdAt: now,
  };
}
