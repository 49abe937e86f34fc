import type { Db } from '../client.js';
import type { WebhookDeliveryStatus } from './webhook-deliveries.js';

export interface DeliveryLogRow {
  id: string;
  event_type: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
  created_at: Date;
}

export interface AttemptLogRow {
  delivery_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: Date;
}

/**
 * One page of a delivery log, newest first: after the `afterId` delivery of the same log when
 * given (its `(created_at, id)`; a delivery of another log places nothing, so the page is empty).
 */
export interface DeliveryPage {
  limit: number;
  afterId?: string;
}

const COLUMNS = 'id, event_type, status, attempts, last_status_code, last_error, next_attempt_at, created_at';

/**
 * One page of the log whose deliveries `inLog` matches, newest first. The `after` delivery is
 * looked up within the same log, so one of another log places nothing.
 */
async function listLog<R extends object>(
  db: Db,
  columns: string,
  inLog: ReturnType<Db['unsafe']>,
  page: DeliveryPage,
): Promise<R[]> {
  return db<R[]>`
    select ${db.unsafe(columns)}
    from webhook_deliveries
    where ${inLog}
      ${page.afterId ? db`and (created_at, id) < (select created_at, id from webhook_deliveries where id = ${page.afterId} and ${inLog})` : db``}
    order by created_at desc, id desc
    limit ${page.limit}`;
}

/** An endpoint's deliveries, newest first. */
export async function listEndpointDeliveries(
  db: Db,
  endpointId: string,
  page: DeliveryPage,
): Promise<DeliveryLogRow[]> {
  return listLog<DeliveryLogRow>(db, COLUMNS, db`endpoint_id = ${endpointId}`, page);
}

/** A delivery to a job's own `webhook_url`: no endpoint, so its URL and job go with it. */
export interface JobUrlDeliveryLogRow extends DeliveryLogRow {
  url: string;
  job_id: string | null;
}

/** The account's deliveries to per-job `webhook_url`s, newest first. */
export async function listJobUrlDeliveries(
  db: Db,
  accountId: string,
  page: DeliveryPage,
): Promise<JobUrlDeliveryLogRow[]> {
  return listLog<JobUrlDeliveryLogRow>(
    db,
    `${COLUMNS}, url, payload -> 'data' ->> 'id' as job_id`,
    db`account_id = ${accountId} and endpoint_id is null`,
    page,
  );
}

/** Which log a delivery is in, whatever its account: to tell an `after` of another log from a log's end. */
export async function findDeliveryLog(
  db: Db,
  id: string,
): Promise<{ account_id: string; endpoint_id: string | null } | null> {
  const [row] = await db<{ account_id: string; endpoint_id: string | null }[]>`
    select account_id, endpoint_id from webhook_deliveries where id = ${id}`;
  return row ?? null;
}

/** Every attempt of the given deliveries, in attempt order. */
export async function listDeliveryAttempts(db: Db, deliveryIds: string[]): Promise<AttemptLogRow[]> {
  if (deliveryIds.length === 0) return [];
  return db<AttemptLogRow[]>`
    select delivery_id, attempt, status_code, error, duration_ms, at
    from webhook_attempts
    where delivery_id = any(${deliveryIds}::text[])
    order by delivery_id, attempt`;
}
