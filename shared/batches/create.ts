import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { failPendingLines, insertBatchLines } from '../db/queries/batch-lines.js';
import { type BatchRow, closeBatch, findBatch, insertBatch } from '../db/queries/batches.js';
import { findFile, lockFileForRead } from '../db/queries/files.js';
import { uniqueViolation } from '../db/unique-violation.js';
import { ApiError } from '../errors.js';
import { MadeElsewhere, type Submission } from '../idempotency.js';
import { newId } from '../ids.js';
import { visibleToKey } from '../jobs/visibility.js';
import { inPages } from '../pages.js';
import type { Queues } from '../queues.js';
import { readStoredFile } from './file-store.js';
import { BATCH_ENDPOINT, batchInputLines } from './parse-jsonl.js';
import { scheduleExpiry, triggerDispatch } from './trigger.js';

/** The only completion window offered, as in OpenAI. */
export const COMPLETION_WINDOW = '24h';
export const COMPLETION_WINDOW_MS = 24 * 3600_000;
/** Lines written per statement while a batch is created (up to 50,000 lines, up to 200 MiB). */
const LINES_PER_INSERT = 1000;

/** What an Idempotency-Key on POST /v1/batches makes (shared/idempotency.ts). */
export const batchSubmission: Submission<BatchRow> = { kind: 'batch', find: findBatch, noun: 'Batch' };

export interface CreateBatch {
  key: ChildKeyIdentity;
  /** The batch's id, when the caller named it first (an Idempotency-Key's claim). @default a new one */
  id?: string;
  inputFileId: string;
  metadata: Record<string, unknown>;
  /** Its output and error files expire this long after they are written (OpenAI's `output_expires_after`). */
  outputExpiresAfterSeconds?: number | null;
}

/**
 * POST /v1/batches: the batch and all its lines (pending, no hold: each line is admitted when it is
 * dispatched) in one transaction, read from the stored file and written a page at a time; then the
 * dispatcher and the end-of-window run are queued. If the queue refuses, the batch fails at once;
 * nothing was held, so nothing is owed.
 */
export async function createBatch(ctx: Context, queues: Queues, c: CreateBatch): Promise<BatchRow> {
  const file = await findFile(ctx.sql, c.inputFileId, ctx.clock.now());
  if (!visibleToKey(file, c.key)) throw ApiError.invalid('input_file_id', `No such file: ${c.inputFileId}`);
  if (file.purpose !== 'batch')
    throw ApiError.invalid('input_file_id', 'The input file must be uploaded with purpose "batch"');
  const id = c.id ?? newId('batch');
  const now = ctx.clock.now();
  const expiresAt = new Date(now.getTime() + COMPLETION_WINDOW_MS);
  const owner = {
    accountId: c.key.account_id,
    managementKeyId: c.key.management_key_id,
    childKeyId: c.key.id,
  };
  await ctx.sql
    .begin(async (tx) => {
      // Not deleted while its lines are read from it.
      if (!(await lockFileForRead(tx, file.id, now)))
        throw ApiError.invalid('input_file_id', `No such file: ${c.inputFileId}`);
      await insertBatch(tx, {
        id,
        ...owner,
        inputFileId: file.id,
        endpoint: BATCH_ENDPOINT,
        completionWindow: COMPLETION_WINDOW,
        total: file.line_count,
        metadata: c.metadata,
        createdAt: now,
        expiresAt,
        outputExpiresAfterSeconds: c.outputExpiresAfterSeconds ?? null,
      });
      // Validated on upload; read again because the lines are stored from it.
      const input = batchInputLines(readStoredFile(tx, file.id));
      let lines = 0;
      for await (const page of inPages(input, LINES_PER_INSERT)) {
        await insertBatchLines(
          tx,
          { id, ...owner, createdAt: now },
          page.map((l) => ({
            id: newId('job'),
            customId: l.customId,
            lineNo: l.lineNo,
            // A line whose body names no model fails at dispatch; its row still needs one.
            model: typeof l.body.model === 'string' ? l.body.model : '',
            request: l.body,
          })),
        );
        lines += page.length;
      }
      if (lines !== file.line_count)
        throw new Error(`file ${file.id} holds ${lines} lines, not ${file.line_count}`);
    })
    .catch((err: unknown) => {
      // An id two submissions share (an Idempotency-Key taken over from one that was only slow):
      // the first to commit made the batch; nothing of this one was kept.
      if (c.id && uniqueViolation(err) === 'batches_pkey') throw new MadeElsewhere(id);
      throw err;
    });

  try {
    await triggerDispatch(queues, id);
    // A second after the window closes, so the run finds it closed.
    await scheduleExpiry(queues, id, expiresAt.getTime() - now.getTime() + 1000);
  } catch (err) {
    ctx.logger.error({ err, batchId: id }, 'queueing a new batch failed; failing it');
    const error = { type: 'service_unavailable', message: 'The batch could not be queued' };
    await failPendingLines(ctx.sql, id, error, now);
    await closeBatch(ctx.sql, id, {
      status: 'failed',
      at: now,
      outputFileId: null,
      errorFileId: null,
      completed: 0,
      failed: file.line_count,
      errors: {
        object: 'list',
        data: [{ code: 'service_unavailable', message: error.message, param: null, line: null }],
      },
    });
    throw new ApiError('service_unavailable', 'The batch could not be queued; nothing was charged');
  }
  const batch = await findBatch(ctx.sql, id);
  if (!batch) throw new Error(`batch ${id} vanished`);
  ctx.logger.info({ batchId: id, accountId: owner.accountId, lines: file.line_count }, 'batch created');
  return batch;
}
