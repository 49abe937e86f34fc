import { z } from 'zod';
import type { WebhookEventType } from '../../shared/webhooks/events.js';
import { isoString, ngonkaString } from './common.js';
import { batchObject, jobObject } from './inference.js';

/**
 * The `data` of each webhook event, as /openapi.json's `webhooks` describe it
 * (api/routes/webhook-events.openapi.ts). What the emitters send (shared/webhooks, the scheduler's
 * tasks) is held to these by test/integration/webhook-events-schema.test.ts.
 */
const keyFields = {
  key_id: z.string(),
  management_key_id: z.string(),
  name: z.string(),
  metadata: z.record(z.string(), z.unknown()).describe('The key’s own metadata: your customer id, say'),
};

export const webhookEventData = {
  'job.succeeded': jobObject,
  'job.failed': jobObject,
  'batch.completed': batchObject,
  'batch.failed': batchObject,
  'batch.expired': batchObject,
  'batch.cancelled': batchObject,
  'key.limit_threshold': z.object({
    ...keyFields,
    limit: z.enum(['daily', 'monthly']),
    threshold: z.union([z.literal(80), z.literal(100)]),
    spent_ngonka: ngonkaString.describe('Settled plus reserved, as admission counts it'),
    settled_ngonka: ngonkaString,
    reserved_ngonka: ngonkaString,
    limit_ngonka: ngonkaString,
    period: z.string().describe('The UTC day (YYYY-MM-DD) or month (YYYY-MM)'),
    resets_at: isoString,
  }),
  'key.expired': z.object({ ...keyFields, expires_at: isoString }),
  'account.low_balance': z.object({
    account_id: z.string(),
    balance_ngonka: ngonkaString,
    available_ngonka: ngonkaString.describe('Balance minus what requests in flight hold'),
    threshold_ngonka: ngonkaString.describe('The account’s low_balance_alert_ngonka'),
  }),
} satisfies Record<WebhookEventType, z.ZodType>;
