import type { Router } from 'express';
import { batchObjects } from '../../shared/batches/read.js';
import type { Context } from '../../shared/context.js';
import { BATCH_STATUSES, findBatch, listBatches } from '../../shared/db/queries/batches.js';
import { ownerListQuery, ownerListRouter } from './owner-list.js';

export const listOwnerBatchesQuery = ownerListQuery(BATCH_STATUSES);

/** GET /api/batches: the owner's batches across all keys, newest first, filterable like /api/jobs. */
export function ownerBatchesRouter(ctx: Context): Router {
  return ownerListRouter(ctx, {
    query: listOwnerBatchesQuery,
    holds: 'batches',
    list: listBatches,
    find: findBatch,
    toData: async (rows) =>
      // The owner sees keys of every management key, so each batch says whose it is.
      (await batchObjects(ctx.sql, rows)).map((b, i) => ({
        ...b,
        key_id: rows[i]!.child_key_id,
        management_key_id: rows[i]!.management_key_id,
      })),
  });
}
