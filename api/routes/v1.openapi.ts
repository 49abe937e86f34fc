import { z } from 'zod';
import { expiresAfterInput } from '../../shared/batches/file-expiry.js';
import { chatCompletionBody } from '../../shared/inference/chat-request.js';
import { registry } from '../openapi.js';
import { errorResponse, json, listOf } from '../schemas/common.js';
import {
  batchObject,
  chatCompletion,
  chatCompletionChunk,
  fileDeleted,
  fileObject,
  jobObject,
  modelList,
  modelObject,
  ownerBatchObject,
  ownerFileObject,
} from '../schemas/inference.js';
import { listOwnerBatchesQuery } from './owner-batches.js';
import { listOwnerFilesQuery } from './owner-files.js';
import { listJobsQuery } from './owner-jobs.js';
import { createBatchBody, listBatchesQuery } from './v1-batches.js';
import { listFilesQuery } from './v1-files.js';
import { createJobBody, listKeyJobsQuery } from './v1-jobs.js';

/**
 * /openapi.json entries for the OpenAI-compatible surface. Request bodies are the zod schemas the
 * routes validate with; response bodies are the objects the routes answer (schemas/inference.ts).
 */
const tags = ['Inference'];
const id = z.object({ id: z.string() });
/** What admission adds to the routes that hold money (API.md "Admission errors"). */
const admission = {
  401: errorResponse('invalid_api_key (`code`: key_unknown, key_disabled, key_expired, key_revoked)'),
  402: errorResponse(
    'child_key_limit (with daily/monthly remaining and reset times) or insufficient_balance',
  ),
  403: errorResponse('permission_error: a management key or session token on /v1'),
  429: errorResponse('rate_limit_exceeded, with Retry-After'),
};
type Answer = { description: string; content: Record<string, { schema: z.ZodType }> };

// Named in the stream's description, referenced by no body: a component of its own.
const { $schema: _, ...chunkSchema } = z.toJSONSchema(chatCompletionChunk);
registry.registerComponent(
  'schemas',
  'ChatCompletionChunk',
  chunkSchema as Parameters<typeof registry.registerComponent<'schemas'>>[2],
);
const job = json(jobObject, 'job');
const batch = json(batchObject, 'batch');
const ownerBatch = json(ownerBatchObject, 'batch');
const file = json(fileObject, 'file');
const deleted = json(fileDeleted, 'the file’s deletion');
/** A file's content, as stored (file-content.ts). */
const bytes: Answer = {
  description: 'The file’s bytes (JSONL)',
  content: { 'application/octet-stream': { schema: z.string() } },
};
/** A route on one object by its id: the object (`answer`), or 404. */
const byId = (method: 'get' | 'post' | 'delete', path: string, answer: Answer, summary: string) =>
  registry.registerPath({
    method,
    path,
    tags,
    summary,
    request: { params: id },
    responses: { 200: answer },
  });

registry.registerPath({
  method: 'get',
  path: '/v1/models',
  tags,
  summary:
    'Models served, each with `pricing: {prompt_ngonka_per_token, completion_ngonka_per_token, prompt_ngonka_per_million_tokens, completion_ngonka_per_million_tokens}`; a request costs ceil(tokens × per-million rate / 1,000,000)',
  responses: { 200: json(modelList, 'OpenAI model list'), 401: admission[401] },
});
registry.registerPath({
  method: 'get',
  path: '/v1/models/{id}',
  tags,
  summary: 'One model, as in the list (OpenAI models.retrieve)',
  request: { params: id },
  responses: { 200: json(modelObject, 'OpenAI model'), 401: admission[401] },
});
registry.registerPath({
  method: 'post',
  path: '/v1/chat/completions',
  tags,
  summary: 'OpenAI chat completion, synchronous; `stream: true` answers with SSE ending `data: [DONE]`',
  request: { body: { content: { 'application/json': { schema: chatCompletionBody } } } },
  responses: {
    200: {
      description: 'A chat.completion; with `stream: true`, server-sent events',
      content: {
        'application/json': { schema: chatCompletion },
        'text/event-stream': {
          schema: z
            .string()
            .describe(
              'Events `data: <ChatCompletionChunk JSON>` (see components.schemas.ChatCompletionChunk), the last ' +
                '`data: [DONE]`; with `stream_options.include_usage` a chunk with `usage` and empty `choices` comes ' +
                'just before it. An error after the stream began is an event `data: {"error": {…}}`.',
            ),
        },
      },
    },
    ...admission,
    502: errorResponse('upstream_error: the model failed after retries'),
    503: errorResponse(
      'upstream_unavailable: no node can serve the model now; or service_unavailable: Redis or Postgres briefly out of reach',
    ),
  },
});
/** POST /v1/jobs and /v1/batches take an Idempotency-Key (shared/idempotency.ts). */
const idempotencyHeader = (what: 'job' | 'batch') =>
  z.object({
    'idempotency-key': z
      .string()
      .max(255)
      .optional()
      .describe(
        `Retry-safe creation: a second request with the same key (per management key, for a day) gets the first one’s ${what}, header idempotent-replayed: true, and is not charged again; 409 while the first is still being made, or for a different request under the same key`,
      ),
  });
const replayable = <T extends object>(answer: T, what: 'job' | 'batch') => ({
  ...answer,
  headers: {
    'idempotent-replayed': {
      description: `\`true\` when this is the ${what} an earlier request with the same Idempotency-Key made`,
      schema: { type: 'string' as const },
    },
  },
});
const idempotencyConflict = {
  ...errorResponse(
    'conflict: the Idempotency-Key’s first request is still being made (Retry-After), or it was used with a different request',
  ),
  headers: {
    'retry-after': {
      description: 'Seconds to wait before retrying, while the first request is still being made',
      schema: { type: 'string' as const },
    },
  },
};
registry.registerPath({
  method: 'post',
  path: '/v1/jobs',
  tags,
  summary: 'Submit an async chat completion; poll it or get a webhook when it ends',
  request: {
    body: { content: { 'application/json': { schema: createJobBody } } },
    headers: idempotencyHeader('job'),
  },
  responses: {
    202: replayable(job, 'job'),
    ...admission,
    409: idempotencyConflict,
  },
});
byId('get', '/v1/jobs/{id}', job, 'A job: status queued, running, succeeded, failed, cancelled or expired');
byId(
  'post',
  '/v1/jobs/{id}/cancel',
  job,
  'Cancel a queued job (its hold is released, nothing is billed); a running one is cancelled best-effort: its node call may finish, and what the node generated is billed (the job then shows its result and cost_ngonka)',
);
registry.registerPath({
  method: 'post',
  path: '/v1/files',
  tags,
  summary: 'Upload a JSONL batch input (multipart: `purpose=batch`, `file`), validated line by line',
  request: {
    body: {
      content: {
        'multipart/form-data': {
          schema: z.object({
            purpose: z.literal('batch'),
            file: z.string().describe('JSONL'),
            expires_after: expiresAfterInput
              .optional()
              .describe(
                'Delete the file this long after its upload (`expires_after[anchor]=created_at`, `expires_after[seconds]` 3600–2592000); the file object says when in `expires_at`',
              ),
          }),
        },
      },
    },
  },
  responses: {
    200: file,
    400: errorResponse(
      'Invalid file (the message names the line), or the account’s file storage is full (`code`: storage_limit_exceeded)',
    ),
    413: errorResponse('payload_too_large: the file is over BATCH_FILE_MAX_BYTES (200 MiB by default)'),
  },
});
/** An OpenAI list (`after` = the last id of the previous page, while `has_more`). */
const list = (path: string, query: z.ZodObject, answer: Answer, summary: string) =>
  registry.registerPath({
    method: 'get',
    path,
    tags,
    summary,
    request: { query },
    responses: {
      200: answer,
      400: errorResponse(
        'Invalid query (`param` names it), or an `after` that is none of the rows this key can list',
      ),
    },
  });

list(
  '/v1/files',
  listFilesQuery,
  json(listOf(fileObject), 'list of files'),
  'Files of the caller’s management key (inputs, batch outputs and error files), newest first',
);
byId('get', '/v1/files/{id}', file, 'A file object');
byId('delete', '/v1/files/{id}', deleted, 'Delete a file: its content goes at once; batches keep naming it');
byId('get', '/v1/files/{id}/content', bytes, 'Raw file content (inputs, batch outputs and error files)');
registry.registerPath({
  method: 'post',
  path: '/v1/batches',
  tags,
  summary: 'Create an OpenAI-style batch; each line is admitted when dispatched',
  request: {
    body: { content: { 'application/json': { schema: createBatchBody } } },
    headers: idempotencyHeader('batch'),
  },
  responses: {
    200: replayable(batch, 'batch'),
    400: errorResponse(
      'Invalid body (`param` names the field); `param: input_file_id` also when it is no file of this key’s management key (deleted or expired included), or not a batch input',
    ),
    409: idempotencyConflict,
  },
});
list(
  '/v1/batches',
  listBatchesQuery,
  json(listOf(batchObject), 'list of batches'),
  'Batches of the caller’s management key, newest first',
);
list(
  '/v1/jobs',
  listKeyJobsQuery,
  json(listOf(jobObject), 'list of jobs'),
  'Async jobs of the caller’s management key, newest first (not batch lines)',
);
byId('get', '/v1/batches/{id}', batch, 'A batch with its request_counts, usage and cost');
byId(
  'post',
  '/v1/batches/{id}/cancel',
  batch,
  'Cancel a batch: finished lines stay billed, the rest are released',
);
/** The owner's routes (JWT) below. */
const noSession = errorResponse('No or an invalid session token');
// The owner's lists page alike: pass the answer's `last_id` as `after` while `has_more` is true.
const page = 'list with first_id, last_id and has_more; the next page is `after` its last_id';
for (const [path, query, answer, summary] of [
  [
    '/api/jobs',
    listJobsQuery,
    json(listOf(jobObject), page),
    'The owner’s async jobs across keys (JWT), newest first, filterable by management key, key and status',
  ],
  [
    '/api/batches',
    listOwnerBatchesQuery,
    json(listOf(ownerBatchObject), page),
    'The owner’s batches across keys (JWT), newest first, filterable by management key, key and status',
  ],
  [
    '/api/files',
    listOwnerFilesQuery,
    json(listOf(ownerFileObject), page),
    'The owner’s files across management keys (JWT), newest first, filterable by management key and purpose',
  ],
] as const) {
  registry.registerPath({
    method: 'get',
    path,
    tags: ['Jobs'],
    summary,
    request: { query },
    responses: {
      200: answer,
      400: errorResponse('Invalid query (`param` names it), or an `after` that is none of the owner’s rows'),
      401: noSession,
      403: errorResponse('permission_error: a management or child key, not a session'),
    },
  });
}
// The owner's actions on one row (JWT); another account's row is a 404.
for (const [method, path, answer, summary] of [
  ['get', '/api/jobs/{id}', job, 'One of the owner’s async jobs, as the list shows it'],
  ['get', '/api/batches/{id}', ownerBatch, 'One of the owner’s batches, as the list shows it'],
  ['get', '/api/files/{id}/content', bytes, 'Raw content of one of the owner’s files'],
  ['delete', '/api/files/{id}', deleted, 'Delete one of the owner’s files: its content goes at once'],
  [
    'post',
    '/api/jobs/{id}/cancel',
    job,
    'Cancel one of the owner’s async jobs, as its key would (a queued one’s hold is released; a running one is billed for what its node generated)',
  ],
  [
    'post',
    '/api/batches/{id}/cancel',
    ownerBatch,
    'Cancel one of the owner’s batches, as its key would: finished lines stay billed, the rest are released',
  ],
] as const)
  registry.registerPath({
    method,
    path,
    tags: ['Jobs'],
    summary,
    request: { params: id },
    responses: {
      200: answer,
      401: noSession,
      404: errorResponse('None such of the owner’s'),
    },
  });
