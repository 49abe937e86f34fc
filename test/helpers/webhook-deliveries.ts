import { randomBytes } from 'node:crypto';
import type { Context } from '../../shared/context.js';
import type { Db } from '../../shared/db/client.js';
import { insertWebhookDeliveries } from '../../shared/db/queries/webhook-deliveries.js';
import {
  insertWebhookEndpointWithin,
  type NewWebhookEndpoint,
  type WebhookEndpointRow,
} from '../../shared/db/queries/webhooks.js';
import { newId } from '../../shared/ids.js';
import { newWebhookSecret } from '../../shared/webhooks/events.js';
import { createTestAccount } from './accounts.js';
import { waitFor } from './wait.js';
import type { WebhookReceiver } from './webhook-receiver.js';

/** An endpoint written straight to Postgres, past the route's checks (its URL, the account's cap). */
export async function insertWebhookEndpoint(db: Db, e: NewWebhookEndpoint): Promise<WebhookEndpointRow> {
  const row = await insertWebhookEndpointWithin(db, e, Number.MAX_SAFE_INTEGER);
  if (!row) throw new Error('insert into webhook_endpoints returned no row');
  return row;
}

/** A fresh path on the test receiver, one per endpoint. */
export const newPath = () => `/hook-${randomBytes(4).toString('hex')}`;

export const deliveryRow = async (ctx: Context, id: string) =>
  (await ctx.sql`select * from webhook_deliveries where id = ${id}`)[0]!;
export const settledRow = (ctx: Context, id: string) =>
  waitFor(`delivery ${id} to settle`, async () => {
    const row = await deliveryRow(ctx, id);
    return row.status !== 'pending' ? row : null;
  });
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An endpoint on the receiver and one pending delivery to it, first due at `dueAt`. */
export async function pendingDelivery(ctx: Context, receiver: WebhookReceiver, dueAt: Date) {
  const acct = await createTestAccount(ctx);
  const path = newPath();
  const secret = newWebhookSecret();
  receiver.expectSecret(path, secret);
  const endpoint = await insertWebhookEndpoint(ctx.sql, {
    id: newId('whe'),
    accountId: acct.id,
    url: receiver.base + path,
    events: ['*'],
    secret,
    createdAt: new Date(),
  });
  const id = await queuedLater(ctx, acct.id, endpoint.id, endpoint.url, dueAt);
  return { id, path };
}

/** A pending delivery with no job yet (one is queued only when it falls due); a per-job URL's without an endpoint. */
export async function queuedLater(
  ctx: Context,
  accountId: string,
  endpointId: string | null,
  url: string,
  dueAt: Date,
) {
  const id = newId('whd');
  await insertWebhookDeliveries(
    ctx.sql,
    { accountId, type: 'job.failed', payload: { type: 'job.failed' }, at: new Date() },
    [{ id, endpointId, url }],
  );
  await ctx.sql`update webhook_deliveries set next_attempt_at = ${dueAt} where id = ${id}`;
  return id;
}

/**
 * An endpoint of the account (never called: nothing is pending) with `n` settled deliveries, one a
 * minute, the newest a minute ago; and `n` more to jobs' own webhook_url. Ids are returned newest
 * first, as the logs list them.
 */
export async function endpointWithLog(ctx: Context, accountId: string, n: number) {
  const endpoint = await insertWebhookEndpoint(ctx.sql, {
    id: newId('whe'),
    accountId,
    url: 'https://hooks.example.com/gonka',
    events: ['*'],
    secret: newWebhookSecret(),
    createdAt: new Date(Date.now() - (n + 1) * 60_000),
  });
  const rows = (endpointId: string | null) =>
    Array.from({ length: n }, (_, i) => ({
      id: newId('whd'),
      endpoint_id: endpointId,
      account_id: accountId,
      url: endpoint.url,
      event_type: 'job.succeeded',
      payload: { type: 'job.succeeded', data: { id: `job_${i}` } },
      status: 'succeeded',
      attempts: 1,
      last_status_code: 200,
      created_at: new Date(Date.now() - (i + 1) * 60_000),
    }));
  const [own, perJob] = [rows(endpoint.id), rows(null)];
  await ctx.sql`insert into webhook_deliveries ${ctx.sql([...own, ...perJob])}`;
  return { endpoint, ids: own.map((r) => r.id), jobIds: perJob.map((r) => r.id) };
}
