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

/** An endpoint's most recent deliveries, newest first. */
export async function listEndpointDeliveries(
  db: Db,
  endpointId: string,
  limit: number,
): Promise<DeliveryLogRow[]> {
  return db<DeliveryLogRow[]>`
    select id, event_type, status, attempts, last_status_code, last_error, next_attempt_at, created_at
    from webhook_deliveries
    where endpoint_id = ${endpointId}
    order by created_at desc, id desc
    limit ${limit}`;
}

/** A delivery to a job's own `webhook_url`: no endpoint, so its URL and job go with it. */
export interface JobUrlDeliveryLogRow extends DeliveryLogRow {
  url: string;
  job_id: string | null;
}

/** The account's most recent deliveries to per-job `webhook_url`s, newest first. */
export async function listJobUrlDeliveries(
  db: Db,
  accountId: string,
  limit: number,
): Promise<JobUrlDeliveryLogRow[]> {
  return db<JobUrlDeliveryLogRow[]>`
    select id, event_type, status, attempts, last_status_code, last_error, next_attempt_at, created_at,
           url, payload -> 'data' ->> 'id' as job_id
    from webhook_deliveries
    where account_id = ${accountId} and endpoint_id is null
    order by created_at desc, id desc
    limit ${limit}`;
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
