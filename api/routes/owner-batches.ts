import { Router } from 'express';
import { z } from 'zod';
import { batchObjects } from '../../shared/batches/read.js';
import type { Context } from '../../shared/context.js';
import { listBatches } from '../../shared/db/queries/batches.js';
import { requireOwner } from '../middleware/auth.js';
import { parse } from '../middleware/validate.js';

const batchStatuses = [
  'validating',
  'in_progress',
  'finalizing',
  'completed',
  'failed',
  'expired',
  'cancelling',
  'cancelled',
] as const;

export const listOwnerBatchesQuery = z.strictObject({
  management_key_id: z.string().max(100).optional(),
  key_id: z.string().max(100).optional(),
  status: z.enum(batchStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  /** Unix seconds: batches created before this (the last page's oldest `created_at`). */
  before: z.coerce.number().int().positive().optional(),
});

/** GET /api/batches: the owner's batches across all keys, newest first, filterable like /api/jobs. */
export function ownerBatchesRouter(ctx: Context): Router {
  const r = Router();
  r.use(requireOwner(ctx));
  r.get('/', async (req, res) => {
    const q = parse(listOwnerBatchesQuery, req.query);
    const rows = await listBatches(ctx.sql, {
      accountId: res.locals.accountId,
      managementKeyId: q.management_key_id,
      childKeyId: q.key_id,
      status: q.status,
      before: q.before ? new Date(q.before * 1000) : undefined,
      limit: q.limit,
    });
    const data = (await batchObjects(ctx.sql, rows)).map((b, i) => ({
      ...b,
      key_id: rows[i]!.child_key_id,
      management_key_id: rows[i]!.management_key_id,
    }));
    res.json({ object: 'list', data, has_more: rows.length === q.limit });
  });
  return r;
}
