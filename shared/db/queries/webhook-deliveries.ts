import type { Db } from '../client.js';
import { statusIn } from './status-by-id.js';

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'disabled';

export interface NewWebhookDelivery {
  id: string;
  /** Null for a per-job `webhook_url`. */
  endpointId: string | null;
  url: string;
}

/**
 * One event's deliveries in one statement; they share the account, type, payload and instant. With
 * a `key`, a destination that already has a delivery of that event is skipped. Returns the ids
 * inserted.
 */
export async function insertWebhookDeliveries(
  db: Db,
  event: { accountId: string; type: string; payload: Record<string, unknown>; at: Date; key?: string },
  deliveries: NewWebhookDelivery[],
): Promise<string[]> {
  if (deliveries.length === 0) return [];
  const rows = await db<{ id: string }[]>`
    insert into webhook_deliveries
      (id, endpoint_id, account_id, url, event_type, event_key, payload, next_attempt_at, created_at, updated_at)
    select d.id, d.endpoint_id, ${event.accountId}, d.url, ${event.type}, ${event.key ?? null},
      ${db.json(event.payload as Parameters<Db['json']>[0])}, ${event.at}, ${event.at}, ${event.at}
    from unnest(${deliveries.map((d) => d.id)}::text[], ${deliveries.map((d) => d.endpointId)}::text[],
      ${deliveries.map((d) => d.url)}::text[]) as d (id, endpoint_id, url)
    on conflict do nothing
    returning id`;
  return rows.map((r) => r.id);
}

/** A delivery as the worker needs it: with its endpoint's state and secret (null for a per-job URL). */
export interface DeliveryToSendRow {
  id: string;
  account_id: string;
  endpoint_id: string | null;
  url: string;
  payload: Record<string, unknown>;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  endpoint_status: 'active' | 'disabled' | null;
  endpoint_deleted: boolean | null;
  endpoint_secret: string | null;
  endpoint_previous_secret: string | null;
  endpoint_previous_secret_expires_at: Date | null;
}

export async function findDeliveryToSend(db: Db, id: string): Promise<DeliveryToSendRow | null> {
  const [row] = await db<DeliveryToSendRow[]>`
    -- An endpoint's delivery goes where the endpoint is now (a PATCH moves its retries too).
    select d.id, d.account_id, d.endpoint_id, coalesce(e.url, d.url) as url, d.payload, d.status, d.attempts, d.next_attempt_at,
      e.status as endpoint_status, (e.deleted_at is not null) as endpoint_deleted, e.secret as endpoint_secret,
      e.previous_secret as endpoint_previous_secret,
      e.previous_secret_expires_at as endpoint_previous_secret_expires_at
    from webhook_deliveries d left join webhook_endpoints e on e.id = d.endpoint_id
    where d.id = ${id}`;
  return row ?? null;
}

/**
 * Take attempt number `attempts + 1`, only once it is due (`next_attempt_at <= at`): a job that
 * comes early takes nothing, so extra jobs for one delivery cannot spend its schedule. Guarded on
 * the attempt count read before, so when two jobs race only one sends. While in flight
 * `next_attempt_at` is `leaseUntil`: when the attempt counts as lost (its worker died) and the next
 * may start. Null when the attempt was not taken.
 */
export async function claimDeliveryAttempt(
  db: Db,
  id: string,
  seenAttempts: number,
  at: Date,
  leaseUntil: Date,
): Promise<number | null> {
  // The attempt before, claimed and never recorded (its worker died mid-send), goes in the log as
  // lost, dated when it was claimed: else the log shows a count of attempts with one missing.
  const [row] = await db<{ attempts: number }[]>`
    with before as (select updated_at from webhook_deliveries where id = ${id}),
    claimed as (
      update webhook_deliveries
      set attempts = attempts + 1, next_attempt_at = ${leaseUntil}, updated_at = ${at}
      where id = ${id} and ${statusIn(db, 'status', ['pending'])} and attempts = ${seenAttempts}
        and next_attempt_at <= ${at}
      returning id, attempts
    ),
    lost as (
      insert into webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, at)
      select c.id, c.attempts - 1, null, ${LOST_ATTEMPT}, 0, (select updated_at from before)
      from claimed c where c.attempts > 1
      on conflict (delivery_id, attempt) do nothing
    )
    select attempts from claimed`;
  return row?.attempts ?? null;
}

/** What the log says of an attempt whose worker stopped before it recorded an answer. */
export const LOST_ATTEMPT = 'lost: the worker making this attempt stopped before it recorded an answer';

export interface AttemptRecord {
  deliveryId: string;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: Date;
  /** The delivery's state after this attempt. */
  status: WebhookDeliveryStatus;
  nextAttemptAt: Date | null;
}

/** Log the attempt and move the delivery to its next state, together (call inside a transaction). */
export async function recordDeliveryAttempt(db: Db, a: AttemptRecord): Promise<void> {
  await db`
    insert into webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, at)
    values (${a.deliveryId}, ${a.attempt}, ${a.statusCode}, ${a.error}, ${a.durationMs}, ${a.at})`;
  await db`
    update webhook_deliveries
    set status = ${a.status}, last_status_code = ${a.statusCode}, last_error = ${a.error},
      next_attempt_at = ${a.nextAttemptAt}, updated_at = ${a.at}
    where id = ${a.deliveryId}`;
}

/**
 * End pending deliveries without an attempt: one (`id`) whose endpoint was disabled or deleted
 * meanwhile, or all of an endpoint's (`endpointId`) as a 410 disables it or it is deleted, so none of
 * them will be sent. An attempt in flight still records its outcome over this (a retry it asks for
 * then finds the endpoint gone and ends there).
 */
export async function closePendingDeliveries(
  db: Db,
  which: { id: string } | { endpointId: string },
  end: { status: 'failed' | 'disabled'; error: string; at: Date },
): Promise<void> {
  const match = 'id' in which ? db`id = ${which.id}` : db`endpoint_id = ${which.endpointId}`;
  await db`
    update webhook_deliveries
    set status = ${end.status}, last_error = ${end.error}, next_attempt_at = null, updated_at = ${end.at}
    where ${match} and status = 'pending'`;
}

export interface StalledDeliveryRow {
  id: string;
  /** Attempts started: the lost job was for attempt `attempts + 1`. */
  attempts: number;
}

/**
 * Pending deliveries nobody is working on: due (or their attempt's lease over) since before
 * `cutoff`. Their job was lost between the database write and the enqueue, or with a crashed worker.
 */
export async function findStalledDeliveries(
  db: Db,
  cutoff: Date,
  limit: number,
): Promise<StalledDeliveryRow[]> {
  return db<StalledDeliveryRow[]>`
    select id, attempts from webhook_deliveries
    where status = 'pending' and next_attempt_at < ${cutoff}
    order by next_attempt_at
    limit ${limit}`;
}

/**
 * Delete up to `limit` deliveries that ended before `before` (succeeded, failed or disabled: never a
 * pending one), oldest first, with their attempts; how many went.
 */
export async function deleteEndedDeliveries(db: Db, before: Date, limit: number): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    with due as (
      select id from webhook_deliveries where status <> 'pending' and updated_at < ${before}
      order by updated_at limit ${limit}),
    attempts as (delete from webhook_attempts where delivery_id in (select id from due)),
    gone as (delete from webhook_deliveries where id in (select id from due) returning id)
    select count(*)::int as n from gone`;
  return row!.n;
}
