import type { Db } from '../client.js';

export type WebhookEndpointStatus = 'active' | 'disabled';

/** An endpoint without its secret: what lists and lookups return. */
export interface WebhookEndpointRow {
  id: string;
  account_id: string;
  url: string;
  events: string[];
  status: WebhookEndpointStatus;
  disabled_reason: string | null;
  created_at: Date;
  deleted_at: Date | null;
}

const COLUMNS = 'id, account_id, url, events, status, disabled_reason, created_at, deleted_at';

export interface NewWebhookEndpoint {
  id: string;
  accountId: string;
  url: string;
  events: string[];
  secret: string;
  createdAt: Date;
}

/** First key of the advisory locks that take an account's endpoint creations in turn. */
const ENDPOINT_CREATION_LOCK = 2002;

/**
 * Insert unless the account already has `max` endpoints that are not deleted (null then). An
 * account's creations take turns (a transaction-scoped advisory lock on it), so two at once cannot
 * both pass the count. Call inside a transaction.
 */
export async function insertWebhookEndpointWithin(
  tx: Db,
  e: NewWebhookEndpoint,
  max: number,
): Promise<WebhookEndpointRow | null> {
  await tx`select pg_advisory_xact_lock(${ENDPOINT_CREATION_LOCK}, hashtext(${e.accountId}))`;
  const [row] = await tx<WebhookEndpointRow[]>`
    insert into webhook_endpoints (id, account_id, url, events, secret, created_at)
    select ${e.id}, ${e.accountId}, ${e.url}, ${e.events}::text[], ${e.secret}, ${e.createdAt}
    where (select count(*) from webhook_endpoints where account_id = ${e.accountId} and deleted_at is null)
      < ${max}
    returning ${tx.unsafe(COLUMNS)}`;
  return row ?? null;
}

export async function insertWebhookEndpoint(db: Db, e: NewWebhookEndpoint): Promise<WebhookEndpointRow> {
  const [row] = await db<WebhookEndpointRow[]>`
    insert into webhook_endpoints (id, account_id, url, events, secret, created_at)
    values (${e.id}, ${e.accountId}, ${e.url}, ${e.events}::text[], ${e.secret}, ${e.createdAt})
    returning ${db.unsafe(COLUMNS)}`;
  if (!row) throw new Error('insert into webhook_endpoints returned no row');
  return row;
}

/** The account's endpoints that are not deleted, newest first. */
export async function listWebhookEndpoints(db: Db, accountId: string): Promise<WebhookEndpointRow[]> {
  return db<WebhookEndpointRow[]>`
    select ${db.unsafe(COLUMNS)} from webhook_endpoints
    where account_id = ${accountId} and deleted_at is null
    order by created_at desc, id desc`;
}

/** One endpoint of this account, deleted ones included (their delivery log stays readable). */
export async function findWebhookEndpoint(
  db: Db,
  accountId: string,
  id: string,
): Promise<WebhookEndpointRow | null> {
  const [row] = await db<WebhookEndpointRow[]>`
    select ${db.unsafe(COLUMNS)} from webhook_endpoints where account_id = ${accountId} and id = ${id}`;
  return row ?? null;
}

/** Soft delete; null when it is not this account's or is already deleted (nothing changed). */
export async function deleteWebhookEndpoint(
  db: Db,
  accountId: string,
  id: string,
  at: Date,
): Promise<WebhookEndpointRow | null> {
  const [row] = await db<WebhookEndpointRow[]>`
    update webhook_endpoints set deleted_at = ${at}
    where account_id = ${accountId} and id = ${id} and deleted_at is null
    returning ${db.unsafe(COLUMNS)}`;
  return row ?? null;
}

/** After a 410 Gone: the receiver asked us to stop. Only an active endpoint changes. */
export async function disableWebhookEndpoint(db: Db, id: string, reason: string): Promise<void> {
  await db`
    update webhook_endpoints set status = 'disabled', disabled_reason = ${reason}
    where id = ${id} and status = 'active'`;
}

export interface SubscribedEndpointRow {
  id: string;
  url: string;
}

/**
 * Active, undeleted endpoints subscribed to `type` (directly or through `*`) and made by
 * `createdBy` (the event's time), for many (account, event type, time) triples in one query: one
 * list per triple, in the order asked (a worker finishing many jobs at once asks for all of them
 * together).
 */
export async function findSubscribedEndpointsMany(
  db: Db,
  wanted: readonly { accountId: string; type: string; createdBy: Date }[],
): Promise<SubscribedEndpointRow[][]> {
  if (wanted.length === 0) return [];
  const rows = await db<(SubscribedEndpointRow & { i: number })[]>`
    select v.i::int as i, e.id, e.url
    from unnest(${wanted.map((w) => w.accountId)}::text[], ${wanted.map((w) => w.type)}::text[],
      ${wanted.map((w) => w.createdBy.toISOString())}::timestamptz[])
      with ordinality as v(account_id, type, created_by, i)
    join webhook_endpoints e on e.account_id = v.account_id and e.status = 'active' and e.deleted_at is null
      and (v.type = any(e.events) or '*' = any(e.events)) and e.created_at <= v.created_by
    order by v.i, e.created_at, e.id`;
  const lists: SubscribedEndpointRow[][] = wanted.map(() => []);
  for (const r of rows) lists[r.i - 1]?.push({ id: r.id, url: r.url });
  return lists;
}

/**
 * The account's own default secret, created with `candidate` when missing. Concurrent callers all
 * get the one row that won (`on conflict do nothing`, then read).
 */
export async function ensureAccountWebhookSecret(
  db: Db,
  accountId: string,
  candidate: string,
  at: Date,
): Promise<string> {
  await db`
    insert into webhook_account_secrets (account_id, secret, created_at)
    values (${accountId}, ${candidate}, ${at})
    on conflict (account_id) do nothing`;
  const [row] = await db<{ secret: string }[]>`
    select secret from webhook_account_secrets where account_id = ${accountId}`;
  if (!row) throw new Error(`webhook_account_secrets row for ${accountId} vanished`);
  return row.secret;
}
