import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import { listJobs } from '../../shared/db/queries/jobs.js';
import { formatJob } from '../../shared/jobs/format.js';
import { requireOwner } from '../middleware/auth.js';
import { parse } from '../middleware/validate.js';

const jobStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;

export const listJobsQuery = z.strictObject({
  management_key_id: z.string().max(100).optional(),
  key_id: z.string().max(100).optional(),
  status: z.enum(jobStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  /** Unix seconds: jobs created before this (the last page's oldest `created_at`). */
  before: z.coerce.number().int().positive().optional(),
});

/** GET /api/jobs: the owner's async jobs across all keys, newest first, filterable. */
export function ownerJobsRouter(ctx: Context): Router {
  const r = Router();
  r.use(requireOwner(ctx));
  r.get('/', async (req, res) => {
    const q = parse(listJobsQuery, req.query);
    const rows = await listJobs(ctx.sql, {
      accountId: res.locals.accountId,
      managementKeyId: q.management_key_id,
      childKeyId: q.key_id,
      status: q.status,
      before: q.before ? new Date(q.before * 1000) : undefined,
      limit: q.limit,
    });
    res.json({ object: 'list', data: rows.map(formatJob), has_more: rows.length === q.limit });
  });
  return r;
}
