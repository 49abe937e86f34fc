import { z } from 'zod';
import type { AttemptLogRow, DeliveryLogRow } from '../../shared/db/queries/webhook-delivery-log.js';
import type { WebhookEndpointRow } from '../../shared/db/queries/webhooks.js';
import { ALL_EVENTS, WEBHOOK_EVENT_TYPES } from '../../shared/webhooks/events.js';
import {
  previousSecretUntil,
  ROTATION_GRACE_SECONDS,
  ROTATION_GRACE_SECONDS_MAX,
} from '../../shared/webhooks/secrets.js';
import { WEBHOOK_URL_MAX_LENGTH } from '../../shared/webhooks/url.js';
import { isoString, listOf, queryLimit } from './common.js';

export const webhookParams = z.object({ id: z.string() });

const subscription = z.enum([...WEBHOOK_EVENT_TYPES, ALL_EVENTS]);

const endpointUrl = z
  .string()
  .max(WEBHOOK_URL_MAX_LENGTH, `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`)
  .describe('https URL the events are POSTed to');
const endpointEvents = z
  .array(subscription)
  .min(1, 'must name at least one event')
  .describe('Event types to receive; `*` means all');

/** The scheme and address checks depend on configuration and DNS, so they run in the handler. */
export const createWebhookBody = z.strictObject({ url: endpointUrl, events: endpointEvents });

export const updateWebhookBody = z
  .strictObject({
    url: endpointUrl.optional(),
    events: endpointEvents.optional(),
    status: z
      .enum(['active', 'disabled'])
      .optional()
      .describe(
        '`active` turns an endpoint back on (after a 410 disabled it, or the owner did): it receives events ' +
          'from then on. `disabled` stops it and ends its pending deliveries.',
      ),
  })
  .refine((b) => Object.keys(b).length > 0, 'Name at least one of url, events, status to change');

export const rotateSecretBody = z.strictObject({
  grace_period_seconds: z
    .number()
    .int()
    .min(0)
    .max(ROTATION_GRACE_SECONDS_MAX)
    .default(ROTATION_GRACE_SECONDS)
    .describe(
      'How long the replaced secret still signs beside the new one (each delivery then carries two ' +
        '`v1,…` signatures, and a receiver holding either verifies). 0 ends it at once, for a secret that leaked.',
    ),
});

// Strict, as every list's query: an unknown parameter is a 400, not ignored.
export const deliveriesQuery = z.strictObject({
  limit: queryLimit(100, 20),
  after: z
    .string()
    .max(100)
    .optional()
    .describe(
      'Cursor: the deliveries after this one (the last page’s `last_id`), newest first. Pages without ' +
        'skipping or repeating a delivery.',
    ),
});

export const webhookObject = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  status: z.enum(['active', 'disabled', 'deleted']).describe('`deleted` once DELETEd (as `deleted_at` says)'),
  disabled_reason: z.string().nullable().describe('Why it was disabled (a 410 Gone from the receiver)'),
  created_at: isoString,
  deleted_at: isoString.nullable(),
  previous_secret_expires_at: isoString
    .nullable()
    .describe('While the secret a rotation replaced still signs too: until when. Null otherwise'),
});
export type WebhookJson = z.infer<typeof webhookObject>;

export const createdWebhookObject = webhookObject.extend({
  secret: z.string().describe('The `whsec_…` signing secret. Returned here only; store it now.'),
});

export const webhookList = z.object({
  data: z.array(webhookObject),
  url_schemes: z
    .array(z.enum(['https', 'http']))
    .describe(
      'What a new endpoint’s url may use on this gateway: https, and http where private networks are allowed',
    ),
});

export const defaultSecretObject = z.object({
  secret: z
    .string()
    .describe(
      'The account’s own secret, which signs per-job `webhook_url` deliveries; endpoints keep theirs',
    ),
  previous_secret_expires_at: isoString
    .nullable()
    .describe('While the secret a rotation replaced still signs too: until when. Null otherwise'),
});

const attemptObject = z.object({
  attempt: z.number().int(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
  duration_ms: z.number().int(),
  at: isoString,
});

export const deliveryObject = z.object({
  id: z.string().describe('Also the `webhook-id` header of every attempt'),
  event_type: z.string(),
  status: z.enum(['pending', 'succeeded', 'failed', 'disabled']),
  attempts: z.number().int(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: isoString.nullable(),
  created_at: isoString,
  attempts_log: z.array(attemptObject),
});
export type DeliveryJson = z.infer<typeof deliveryObject>;

export const deliveryList = listOf(deliveryObject);

export const jobUrlDeliveryObject = deliveryObject.extend({
  url: z.string().describe('The job’s own `webhook_url`'),
  job_id: z.string().nullable(),
});
export const jobUrlDeliveryList = listOf(jobUrlDeliveryObject);

/** `now` decides whether a rotated-out secret still signs. */
export function webhookJson(e: WebhookEndpointRow, now: Date): WebhookJson {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    status: e.deleted_at ? 'deleted' : e.status,
    disabled_reason: e.disabled_reason,
    created_at: e.created_at.toISOString(),
    deleted_at: e.deleted_at?.toISOString() ?? null,
    previous_secret_expires_at:
      (e.deleted_at ? null : previousSecretUntil(e.previous_secret_expires_at, now))?.toISOString() ?? null,
  };
}

export function deliveryJson(d: DeliveryLogRow, attempts: AttemptLogRow[]): DeliveryJson {
  return {
    id: d.id,
    event_type: d.event_type,
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    next_attempt_at: d.next_attempt_at?.toISOString() ?? null,
    created_at: d.created_at.toISOString(),
    attempts_log: attempts.map((a) => ({
      attempt: a.attempt,
      status_code: a.status_code,
      error: a.error,
      duration_ms: a.duration_ms,
      at: a.at.toISOString(),
    })),
  };
}
