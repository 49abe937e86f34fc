import { z } from 'zod';
import type { WebhookEventType } from '../../shared/webhooks/events.js';
import { registry } from '../openapi.js';
import { isoString } from '../schemas/common.js';
import { webhookEventData } from '../schemas/webhook-events.js';

/**
 * /openapi.json's `webhooks`: the body of each event a webhook endpoint receives, so a client's
 * types are generated from the document as its requests' are.
 */
const SUMMARIES: Record<WebhookEventType, string> = {
  'job.succeeded': 'A job succeeded: `data` is the job, as GET /v1/jobs/{id} gives it',
  'job.failed': 'A job failed, expired or was cancelled after running: `data` is the job',
  'batch.completed': 'A batch completed: `data` is the batch',
  'batch.failed': 'A batch failed: `data` is the batch',
  'batch.expired': 'A batch expired: `data` is the batch',
  'batch.cancelled': 'A batch was cancelled: `data` is the batch',
  'key.limit_threshold': 'A child key reached 80% or 100% of its daily or monthly limit',
  'key.expired': 'A child key passed its expires_at',
  'account.low_balance': 'The account’s balance fell below its low-balance alert (PATCH /api/account)',
};

const signatureHeaders = z.object({
  'webhook-id': z.string().describe('This delivery’s id, the same on each of its retries'),
  'webhook-timestamp': z.string().describe('Unix seconds of this attempt'),
  'webhook-signature': z
    .string()
    .describe('Standard Webhooks: `v1,<base64 HMAC-SHA256>` (two during a secret rotation)'),
});

for (const [type, data] of Object.entries(webhookEventData) as [WebhookEventType, z.ZodType][])
  registry.registerWebhook({
    method: 'post',
    path: type,
    tags: ['Webhooks'],
    summary: SUMMARIES[type],
    security: [],
    request: {
      headers: signatureHeaders,
      body: {
        content: {
          'application/json': {
            schema: z.object({
              type: z.literal(type),
              timestamp: isoString.describe('When the event happened, not when this attempt was made'),
              data,
            }),
          },
        },
      },
    },
    responses: {
      200: {
        description:
          'Any 2xx acknowledges it; another answer, or none in time, is retried (410 disables the endpoint)',
      },
    },
  });
