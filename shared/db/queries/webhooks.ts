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
  /** Until when the secret the last rotation replaced still signs beside the new one. */
  previous_secret_expires_at: Date | null;
}

const COLUMNS =
  'id, account_id, url, events, status, disabled_reason, created_at, deleted_at, previous_secret_expires_at';

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

export interface WebhookEndpointChange {
  url?: string | undefined;
  events?: string[] | undefined;
  /** `active` clears the reason; `disabled` gives `disabledReason` to an endpoint that was active. */
  status?: WebhookEndpointStatus | undefined;
  disabledReason: string;
}

/**
 * Change an endpoint that is not deleted, with the status it had before (null when it is not this
 * account's or is deleted). Locks the row, so a 410 recorded at the same moment goes first or after.
 */
export async function updateWebhookEndpoint(
  db: Db,
  accountId: string,
  id: string,
  c: WebhookEndpointChange,
): Promise<{ row: WebhookEndpointRow; before: WebhookEndpointStatus } | null> {
  const [old] = await db<{ status: WebhookEndpointStatus }[]>`
    select status from webhook_endpoints
    where account_id = ${accountId} and id = ${id} and deleted_at is null
    for update`;
  if (!old) return null;
  const status = c.status ?? null;
  const [row] = await db<WebhookEndpointRow[]>`
    update webhook_endpoints set
      url = coalesce(${c.url ?? null}::text, url),
      events = coalesce(${c.events ?? null}::text[], events),
      status = coalesce(${status}::text, status),
      disabled_reason = case
        when ${status}::text = 'active' then null
        when ${status}::text = 'disabled' and status = 'active' then ${c.disabledReason}
        else disabled_reason end
    where id = ${id}
    returning ${db.unsafe(COLUMNS)}`;
  if (!row) throw new Error(`webhook endpoint ${id} vanished under its lock`);
  return { row, before: old.status };
}

/**
 * A new signing secret for an endpoint that is not deleted; the one it replaces signs too until
 * `previousUntil`. Not while an earlier rotation's grace runs (at `now`), unless this one has none
 * (`previousUntil` ≤ `now`): one slot for the old secret, and a second rotation would end the one
 * receivers still hold at once. Null when nothing changed (the caller tells why).
 */
export async function rotateWebhookEndpointSecret(
  db: Db,
  accountId: string,
  id: string,
  secret: string,
  previousUntil: Date,
  now: Date,
): Promise<WebhookEndpointRow | null> {
  const [row] = await db<WebhookEndpointRow[]>`
    update webhook_endpoints
    set ${rotation(db, secret, previousUntil)}
    where account_id = ${accountId} and id = ${id} and deleted_at is null
      and ${rotationAllowed(db, previousUntil, now)}
    returning ${db.unsafe(COLUMNS)}`;
  return row ?? null;
}

/** A rotation's assignments, for an endpoint's secret and an account's alike: the old one moves aside. */
const rotation = (db: Db, secret: string, previousUntil: Date) =>
  db`previous_secret = secret, previous_secret_expires_at = ${previousUntil}, secret = ${secret}`;

/**
 * Whether a rotation may replace the secret now: no earlier grace still running (one slot for the
 * old secret), unless this rotation has none and so ends every older secret at once.
 */
const rotationAllowed = (db: Db, previousUntil: Date, now: Date) =>
  db`(${previousUntil} <= ${now}::timestamptz or previous_secret_expires_at is null
      or previous_secret_expires_at <= ${now})`;

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

/** A signing secret, and the one its last rotation replaced with how long that one still signs. */
export interface SecretRow {
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
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
): Promise<SecretRow> {
  await db`
    insert into webhook_account_secrets (account_id, secret, created_at)
    values (${accountId}, ${candidate}, ${at})
    on conflict (account_id) do nothing`;
  const [row] = await db<SecretRow[]>`
    select secret, previous_secret, previous_secret_expires_at
    from webhook_account_secrets where account_id = ${accountId}`;
  if (!row) throw new Error(`webhook_account_secrets row for ${accountId} vanished`);
  return row;
}

/** As rotateWebhookEndpointSecret, for the account's default secret (which must exist). */
export async function rotateAccountWebhookSecret(
  db: Db,
  accountId: string,
  secret: string,
  previousUntil: Date,
  now: Date,
): Promise<SecretRow | null> {
  const [row] = await db<SecretRow[]>`
    update webhook_account_secrets
    set ${rotation(db, secret, previousUntil)}
    where account_id = ${accountId}
      and ${rotationAllowed(db, previousUntil, now)}
    returning secret, previous_secret, previous_secret_expires_at`;
  return row ?? null;
}
