import { randomBytes } from 'node:crypto';

/** Every event a webhook endpoint can subscribe to (API.md "Webhooks"). */
export const WEBHOOK_EVENT_TYPES = [
  'job.succeeded',
  'job.failed',
  'batch.completed',
  'batch.failed',
  'batch.expired',
  'batch.cancelled',
  'key.limit_threshold',
  'key.expired',
  // Beyond API.md's: the account's balance fell below the threshold its owner set (PATCH /api/account).
  'account.low_balance',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A subscription entry: one event type, or `*` for all of them (including ones added later). */
export const ALL_EVENTS = '*';
export type WebhookSubscription = WebhookEventType | typeof ALL_EVENTS;

/**
 * Dedupe, keeping the owner's order; `*` already covers everything, so it stands alone. Stored
 * as given so the owner sees what they asked for.
 */
export function normalizeSubscriptions(events: readonly WebhookSubscription[]): WebhookSubscription[] {
  if (events.includes(ALL_EVENTS)) return [ALL_EVENTS];
  return [...new Set(events)];
}

/**
 * A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (the spec asks for 24–64), the
 * form `new Webhook(secret)` of every Standard Webhooks library accepts as is.
 */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The body every delivery carries: `{type, timestamp, data}`. */
export interface WebhookMessage {
  type: WebhookEventType;
  /** When the event happened (ISO-8601 UTC), not when this attempt was made. */
  timestamp: string;
  data: Record<string, unknown>;
}
