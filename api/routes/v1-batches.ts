import { type Response, Router } from 'express';
import { z } from 'zod';
import { cancelBatch } from '../../shared/batches/cancel.js';
import { batchSubmission, COMPLETION_WINDOW, createBatch } from '../../shared/batches/create.js';
import { expiresAfterInput } from '../../shared/batches/file-expiry.js';
import { BATCH_ENDPOINT } from '../../shared/batches/parse-jsonl.js';
import { batchObjects } from '../../shared/batches/read.js';
import type { Context } from '../../shared/context.js';
import type { ChildKeyIdentity } from '../../shared/db/queries/admission-state.js';
import { type BatchRow, findBatch, listBatches } from '../../shared/db/queries/batches.js';
import { ApiError, statusOf } from '../../shared/errors.js';
import { claimSubmission, idempotencyKeyOf, inProgress, MadeElsewhere } from '../../shared/idempotency.js';
import { visibleToKey } from '../../shared/jobs/visibility.js';
import type { Queues } from '../../shared/queues.js';
import { parse } from '../../shared/validate.js';
import { listPage, refuseHiddenCursor } from '../list-page.js';
import { requestContext } from '../request-context.js';
import { queryLimit } from '../schemas/common.js';

export const createBatchBody = z.strictObject({
  input_file_id: z.string().min(1).max(100),
  endpoint: z.literal(BATCH_ENDPOINT, `only "${BATCH_ENDPOINT}" is supported`),
  completion_window: z.literal(COMPLETION_WINDOW, `only "${COMPLETION_WINDOW}" is supported`),
  // OpenAI's metadata: up to 16 string pairs.
  metadata: z
    .record(z.string().max(64), z.string().max(512))
    .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys')
    .nullish(),
  // OpenAI's: the batch's output and error files expire this long after they are written.
  output_expires_after: expiresAfterInput.nullish(),
});

export const listBatchesQuery = z.strictObject({
  limit: queryLimit(100, 20),
  after: z.string().max(100).optional(),
});

/** /v1/batches: OpenAI's batch API, over the files of /v1/files. */
export function v1BatchesRouter(ctx: Context, deps: { queues: Queues }): Router {
  const r = Router();

  const load = async (id: string, key: ChildKeyIdentity): Promise<BatchRow> => {
    const batch = await findBatch(ctx.sql, id);
    if (!visibleToKey(batch, key)) throw ApiError.notFound('Batch');
    return batch;
  };

  /** The answer to a retried creation: the batch its Idempotency-Key made, as it is now. */
  const replay = async (res: Response, batch: BatchRow) => {
    res.setHeader('idempotent-replayed', 'true');
    res.json((await batchObjects(ctx.sql, [batch]))[0]);
  };

  // With an Idempotency-Key a retry (the openai SDK retries a POST that timed out, without a key
  // of its own) gets the batch the first creation made, not a second batch run and billed again.
  r.post('/', async (req, res) => {
    const idempotencyKey = idempotencyKeyOf(req.headers['idempotency-key']);
    const body = parse(createBatchBody, req.body);
    const key = res.locals.childKey;
    const claim = idempotencyKey
      ? await claimSubmission(ctx, key, batchSubmission, idempotencyKey, req.body)
      : null;
    if (claim && 'replay' in claim) return replay(res, claim.replay);
    let batch: BatchRow;
    try {
      batch = await createBatch(requestContext(ctx, res), deps.queues, {
        key,
        ...(claim ? { id: claim.id } : {}),
        inputFileId: body.input_file_id,
        metadata: body.metadata ?? {},
        outputExpiresAfterSeconds: body.output_expires_after?.seconds ?? null,
      });
    } catch (err) {
      if (err instanceof MadeElsewhere) {
        const made = await findBatch(ctx.sql, err.id);
        if (made) return replay(res, made);
        throw inProgress();
      }
      // Refused (the input file): nothing was written, so a retry may try again. Any other
      // failure may have written the batch: the claim is left to the next retry (as for jobs).
      if (err instanceof ApiError && statusOf(err.type) < 500) await claim?.release().catch(() => {});
      else await claim?.abandon().catch(() => {});
      throw err;
    }
    res.json((await batchObjects(ctx.sql, [batch]))[0]);
  });

  r.get('/', async (req, res) => {
    const q = parse(listBatchesQuery, req.query);
    const key = res.locals.childKey;
    await refuseHiddenCursor(
      q.after,
      (id) => findBatch(ctx.sql, id),
      (b) => visibleToKey(b, key),
      'a batch this key can list',
    );
    const rows = await listBatches(ctx.sql, {
      accountId: key.account_id,
      managementKeyId: key.management_key_id,
      afterId: q.after,
      limit: q.limit + 1,
    });
    const data = await batchObjects(ctx.sql, rows.slice(0, q.limit));
    res.json(listPage(data, rows.length, q.limit));
  });

  r.get('/:id', async (req, res) => {
    const batch = await load(String(req.params.id), res.locals.childKey);
    res.json((await batchObjects(ctx.sql, [batch]))[0]);
  });

  r.post('/:id/cancel', async (req, res) => {
    const batch = await load(String(req.params.id), res.locals.childKey);
    const cancelled = await cancelBatch(requestContext(ctx, res), deps.queues, batch.id);
    res.json((await batchObjects(ctx.sql, [cancelled]))[0]);
  });

  return r;
}
