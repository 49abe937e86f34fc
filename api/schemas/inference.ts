import { z } from 'zod';
import { BATCH_STATUSES } from '../../shared/db/queries/batches.js';
import { ngonkaString } from './common.js';

/**
 * Response shapes of the /v1 objects, for /openapi.json only: what shared/jobs/format.ts,
 * shared/batches/format.ts and v1-models.ts answer.
 */
const unixSeconds = z.number().int().describe('Unix seconds');

/** Token counts, as the node reported them; what the request is billed for. */
const usage = z
  .object({
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    total_tokens: z.number().int(),
  })
  .loose();

/** OpenAI's chat.completion: modelled where a client reads it (the answer and its usage), open beyond. */
export const chatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z
        .object({
          index: z.number().int(),
          message: z.object({ role: z.literal('assistant'), content: z.string().nullable() }).loose(),
          finish_reason: z.string().nullable(),
        })
        .loose(),
    ),
    usage,
  })
  .loose()
  .meta({ id: 'ChatCompletion' });

/** OpenAI's chat.completion.chunk: one event of a stream. */
export const chatCompletionChunk = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z
        .object({
          index: z.number().int(),
          delta: z.object({ role: z.string().optional(), content: z.string().nullable().optional() }).loose(),
          finish_reason: z.string().nullable(),
        })
        .loose(),
    ),
    usage: usage.nullable().optional(),
  })
  .loose();

/** An error envelope's `error`, as a job or a batch line keeps it (API.md's error types). */
const errorObject = z
  .object({
    type: z.string(),
    message: z.string(),
    code: z.string().nullable().optional(),
    param: z.string().nullable().optional(),
  })
  .loose();

export const jobObject = z
  .object({
    id: z.string(),
    object: z.literal('job'),
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired']),
    model: z.string(),
    created_at: unixSeconds,
    started_at: unixSeconds.nullable(),
    completed_at: unixSeconds.nullable(),
    result: chatCompletion.nullable().describe('The chat.completion, once succeeded'),
    error: errorObject.nullable().describe('Why it failed, as an error envelope’s error'),
    usage: usage.nullable(),
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

/** OpenAI's batch object (shared/batches/format.ts), with what its lines were charged. */
export const batchObject = z
  .object({
    id: z.string(),
    object: z.literal('batch'),
    endpoint: z.string(),
    errors: z
      .object({
        object: z.literal('list').optional(),
        data: z.array(
          z
            .object({
              code: z.string().nullable().optional(),
              message: z.string(),
              param: z.string().nullable().optional(),
              line: z.number().int().nullable().optional(),
            })
            .loose(),
        ),
      })
      .loose()
      .nullable()
      .describe('Why a batch failed, OpenAI’s `{object: "list", data: [...]}`'),
    input_file_id: z.string(),
    completion_window: z.string(),
    status: z.enum(BATCH_STATUSES),
    output_file_id: z.string().nullable(),
    error_file_id: z.string().nullable(),
    created_at: unixSeconds,
    in_progress_at: unixSeconds.nullable(),
    expires_at: unixSeconds.nullable(),
    finalizing_at: unixSeconds.nullable(),
    completed_at: unixSeconds.nullable(),
    failed_at: unixSeconds.nullable(),
    expired_at: unixSeconds.nullable(),
    cancelling_at: unixSeconds.nullable(),
    cancelled_at: unixSeconds.nullable(),
    request_counts: z
      .object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() })
      .describe('Lines that expired or were cancelled before running count in `total` only'),
    usage: z
      .object({
        input_tokens: z.number().int(),
        input_tokens_details: z.object({ cached_tokens: z.number().int() }),
        output_tokens: z.number().int(),
        output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
        total_tokens: z.number().int(),
      })
      .describe('Tokens of the lines that ran, so far'),
    cost_ngonka: ngonkaString.describe('nGNK the lines were charged so far ("0" before any is billed)'),
    metadata: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'Batch' });

/** A batch as the owner's /api lists show it: with the child key and management key it belongs to. */
export const ownerBatchObject = batchObject
  .extend({ key_id: z.string(), management_key_id: z.string() })
  .meta({ id: 'OwnerBatch' });

/** OpenAI's file object (shared/batches/format.ts formatFile): these fields and no other. */
export const fileObject = z
  .strictObject({
    id: z.string(),
    object: z.literal('file'),
    bytes: z.number().int(),
    created_at: unixSeconds,
    filename: z.string(),
    purpose: z
      .enum(['batch', 'batch_output'])
      .describe('batch: an input; batch_output: a batch’s output or error file'),
    status: z.literal('processed'),
    expires_at: unixSeconds.nullable().describe('When it is deleted (null: never)'),
  })
  .meta({ id: 'File' });

/** A file as the owner's /api list shows it: with the management key it belongs to. */
export const ownerFileObject = fileObject.extend({ management_key_id: z.string() }).meta({ id: 'OwnerFile' });

/** What deleting a file answers. */
export const fileDeleted = z.strictObject({
  id: z.string(),
  object: z.literal('file'),
  deleted: z.literal(true),
});
