import { z } from 'zod';
import { ngonkaString } from './common.js';

/**
 * Response shapes of the /v1 objects that carry money, for /openapi.json only: what
 * shared/jobs/format.ts and v1-models.ts answer. The rest of /v1 follows OpenAI's objects.
 */
const unixSeconds = z.number().int().describe('Unix seconds');

export const jobObject = z
  .object({
    id: z.string(),
    object: z.literal('job'),
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired']),
    model: z.string(),
    created_at: unixSeconds,
    started_at: unixSeconds.nullable(),
    completed_at: unixSeconds.nullable(),
    result: z.record(z.string(), z.unknown()).nullable().describe('The chat.completion, once succeeded'),
    error: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe('Why it failed, as an error envelope’s error'),
    usage: z
      .object({
        prompt_tokens: z.number().int(),
        completion_tokens: z.number().int(),
        total_tokens: z.number().int(),
      })
      .nullable(),
    cost_ngonka: ngonkaString
      .nullable()
      .describe('nGNK billed, a non-negative integer as a string; null until billed'),
    attempts: z.number().int(),
    webhook_url: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    key_id: z.string().describe('The child key that submitted it'),
    batch_id: z.string().nullable(),
  })
  .meta({ id: 'Job' });

export const modelObject = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    pricing: z.object({
      prompt_ngonka_per_token: ngonkaString.describe('nGNK per token, rounded up'),
      completion_ngonka_per_token: ngonkaString.describe('nGNK per token, rounded up'),
      prompt_ngonka_per_million_tokens: ngonkaString.describe('nGNK per million tokens: the rate billed'),
      completion_ngonka_per_million_tokens: ngonkaString.describe('nGNK per million tokens: the rate billed'),
    }),
  })
  .meta({ id: 'Model' });

export const modelList = z.object({ object: z.literal('list'), data: z.array(modelObject) });
