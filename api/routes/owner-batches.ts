import type { Router } from 'express';
import { cancelBatch } from '../../shared/batches/cancel.js';
import { batchObjects } from '../../shared/batches/read.js';
import type { Context } from '../../shared/context.js';
import { BATCH_STATUSES, type BatchRow, findBatch, listBatches } from '../../shared/db/queries/batches.js';
import type { Queues } from '../../shared/queues.js';
import { ownerListQuery, ownerListRouter } from './owner-list.js';

export const listOwnerBatchesQuery = ownerListQuery(BATCH_STATUSES);

/**
 * GET /api/batches: the owner's batches across all keys, newest first, filterable like /api/jobs;
 * and, with the queues at hand, POST /api/batches/:id/cancel, exactly as its key would cancel it.
 */
export function ownerBatchesRouter(ctx: Context, queues?: Queues): Router {
  return ownerListRouter<typeof listOwnerBatchesQuery, BatchRow>(ctx, {
    query: listOwnerBatchesQuery,
    holds: 'batches',
    noun: 'Batch',
    list: listBatches,
    find: findBatch,
    ...(queues ? { cancel: (batch, rctx) => cancelBatch(rctx, queues, batch.id) } : {}),
    toData: async (rows) =>
      // The owner sees keys of every management key, so each batch says whose it is.
      (await batchObjects(ctx.sql, rows)).map((b, i) => ({
        ...b,
        key_id: rows[i]!.child_key_id,
        management_key_id: rows[i]!.management_key_id,
      })),
  });
}
