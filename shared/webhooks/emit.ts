import type { Context } from '../context.js';
import type { Sql } from '../db/client.js';
import { insertWebhookDeliveries, type NewWebhookDelivery } from '../db/queries/webhook-deliveries.js';
import { findSubscribedEndpointsMany, type SubscribedEndpointRow } from '../db/queries/webhooks.js';
import { GroupCommit } from '../group-commit.js';
import { newId } from '../ids.js';
import { onePer } from '../per-owner.js';
import type { Queues } from '../queues.js';
import { queueAttempt } from './attempt-job.js';
import type { WebhookEventType, WebhookMessage } from './events.js';
import { defaultWebhookSecret } from './secrets.js';

export interface WebhookEvent {
  accountId: string;
  type: WebhookEventType;
  /** JSON-ready (money as decimal strings, times as ISO strings): it is stored as jsonb. */
  data: Record<string, unknown>;
  /** A per-job `webhook_url`: one more delivery, signed with the account's default secret. */
  url?: string | null;
  /**
   * When it happened (a job's or batch's end), if not now: the message's `timestamp`, and only
   * endpoints made by then receive it (one made later has not asked for news from before it).
   */
  occurredAt?: Date | null;
  /**
   * Names the event (`job.failed:job_…`) so that emitting it again delivers nothing twice: a
   * destination that has a delivery of it already is skipped.
   */
  key?: string;
}

type Subscription = { accountId: string; type: string; createdBy: Date };
const lookups = onePer(
  (sql: Sql) =>
    new GroupCommit<Subscription, SubscribedEndpointRow[]>((wanted) =>
      findSubscribedEndpointsMany(sql, wanted),
    ),
);

/** Who is subscribed: asked for every event raised at once together (a busy worker's finished jobs). */
function subscribedEndpoints(sql: Sql, s: Subscription): Promise<SubscribedEndpointRow[]> {
  return lookups(sql).add(s);
}

/**
 * Record one delivery per active endpoint subscribed to the event (plus the per-job URL, if any)
 * and queue them. Postgres is the record: if an enqueue fails the delivery stays `pending` and
 * `resumeStalledDeliveries` picks it up, so a Redis hiccup does not fail the caller's work.
 * Returns the ids of the deliveries made (with a `key`, none for destinations that had one).
 */
export async function emitEvent(ctx: Context, queues: Queues, event: WebhookEvent): Promise<string[]> {
  return (await emitEventCounted(ctx, queues, event)).inserted;
}

/** emitEvent, also saying how many destinations the event had (none: nothing was written). */
export async function emitEventCounted(
  ctx: Context,
  queues: Queues,
  event: WebhookEvent,
): Promise<{ inserted: string[]; destinations: number }> {
  const at = ctx.clock.now();
  const occurredAt = event.occurredAt ?? at;
  const message: WebhookMessage = { type: event.type, timestamp: occurredAt.toISOString(), data: event.data };
  const endpoints = await subscribedEndpoints(ctx.sql, {
    accountId: event.accountId,
    type: event.type,
    createdBy: occurredAt,
  });
  const deliveries: NewWebhookDelivery[] = endpoints.map((e) => ({
    id: newId('whd'),
    endpointId: e.id,
    url: e.url,
  }));
  if (event.url) {
    // Make sure the secret exists now, so the owner can fetch it before the first attempt lands.
    await defaultWebhookSecret(ctx, event.accountId);
    deliveries.push({ id: newId('whd'), endpointId: null, url: event.url });
  }
  if (deliveries.length === 0) return { inserted: [], destinations: 0 };
  const inserted = await insertWebhookDeliveries(
    ctx.sql,
    { accountId: event.accountId, type: event.type, payload: { ...message }, at, key: event.key },
    deliveries,
  );
  for (const id of inserted) {
    try {
      await queueAttempt(queues, id, 1);
    } catch (err) {
      ctx.logger.warn(
        { err, deliveryId: id },
        'enqueueing a webhook delivery failed; the sweeper retries it',
      );
    }
  }
  return { inserted, destinations: deliveries.length };
}
