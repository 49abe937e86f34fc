import type { Db, Sql } from '../db/client.js';
import { closePendingDeliveries } from '../db/queries/webhook-deliveries.js';
import {
  deleteWebhookEndpoint,
  disableWebhookEndpoint,
  updateWebhookEndpoint,
  type WebhookEndpointChange,
  type WebhookEndpointRow,
} from '../db/queries/webhooks.js';

/** How a pending delivery of an endpoint that stopped ends, by why it stopped. */
const ENDPOINT_STOPPED = {
  disabled: { status: 'disabled', error: 'endpoint disabled' },
  deleted: { status: 'failed', error: 'endpoint deleted' },
} as const;

/**
 * A delivery whose endpoint stopped before its attempt (it was pending when the endpoint's were
 * closed, or made just after): it ends as they did. Returns why.
 */
export async function closeStoppedDelivery(
  db: Db,
  deliveryId: string,
  why: keyof typeof ENDPOINT_STOPPED,
  at: Date,
): Promise<string> {
  const end = ENDPOINT_STOPPED[why];
  await closePendingDeliveries(db, { id: deliveryId }, { ...end, at });
  return end.error;
}

/**
 * After a 410 Gone (call inside the transaction that records the attempt): the endpoint and its
 * other pending deliveries stop together. Left pending, they would show a next retry in the log
 * until each one's own job came round to ending it.
 */
export async function disableEndpoint(tx: Db, endpointId: string, reason: string, at: Date): Promise<void> {
  await disableWebhookEndpoint(tx, endpointId, reason);
  await closePendingDeliveries(tx, { endpointId }, { ...ENDPOINT_STOPPED.disabled, at });
}

/**
 * Soft delete, ending the endpoint's pending deliveries in the same transaction (see above); null
 * when it is not this account's or is already deleted (nothing changed).
 */
export async function deleteEndpoint(
  sql: Sql,
  accountId: string,
  id: string,
  at: Date,
): Promise<WebhookEndpointRow | null> {
  return sql.begin(async (tx) => {
    const row = await deleteWebhookEndpoint(tx, accountId, id, at);
    if (row) await closePendingDeliveries(tx, { endpointId: id }, { ...ENDPOINT_STOPPED.deleted, at });
    return row;
  });
}

/**
 * The owner's change (PATCH): an endpoint turned off ends its pending deliveries as a 410 does, in
 * the same transaction; one turned back on receives the events that happen from then on. Null when
 * it is not this account's or is deleted.
 */
export async function changeEndpoint(
  sql: Sql,
  accountId: string,
  id: string,
  change: Omit<WebhookEndpointChange, 'disabledReason'>,
  at: Date,
): Promise<WebhookEndpointRow | null> {
  return sql.begin(async (tx) => {
    const disabledReason = `disabled by the owner at ${at.toISOString()}`;
    const changed = await updateWebhookEndpoint(tx, accountId, id, { ...change, disabledReason });
    if (changed?.before === 'active' && changed.row.status === 'disabled')
      await closePendingDeliveries(tx, { endpointId: id }, { ...ENDPOINT_STOPPED.disabled, at });
    return changed?.row ?? null;
  });
}
