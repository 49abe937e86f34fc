import type { Context } from '../context.js';
import { claimPendingSchedulerEvents, markSchedulerEventEmitted } from '../db/queries/scheduler-events.js';
import type { Queues } from '../queues.js';
import { emitEvent } from '../webhooks/emit.js';
import type { WebhookEventType } from '../webhooks/events.js';

const BATCH = 100;

/**
 * Hand the events scheduled tasks recorded (scheduler_events) to the webhook emitter. Each row is
 * locked while it is emitted and stamped in the same transaction, so two flushers never emit one
 * event twice; a crash between emitting and committing emits it again on the next run, which adds
 * no delivery (the emit is keyed by the event). Returns how many were emitted.
 */
export async function flushSchedulerEvents(ctx: Context, queues: Queues): Promise<number> {
  let emitted = 0;
  for (;;) {
    const { count, more } = await ctx.sql.begin(async (tx) => {
      const rows = await claimPendingSchedulerEvents(tx, BATCH);
      let n = 0;
      for (const e of rows) {
        try {
          await emitEvent(ctx, queues, {
            accountId: e.account_id,
            type: e.type as WebhookEventType,
            data: e.data,
            key: e.dedupe_key,
          });
        } catch (err) {
          // Keep what was emitted; this one and the rest wait for the next run.
          ctx.logger.warn({ err, event: e.dedupe_key }, 'emitting a scheduler event failed');
          return { count: n, more: false };
        }
        await markSchedulerEventEmitted(tx, e.dedupe_key, ctx.clock.now());
        n++;
      }
      return { count: n, more: rows.length === BATCH };
    });
    emitted += count;
    if (!more) return emitted;
  }
}
