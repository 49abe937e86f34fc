import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import type { Db } from '../../shared/db/client.js';
import { requireOwner } from '../middleware/auth.js';
import { parse } from '../middleware/validate.js';

/**
 * The query of an owner's list across keys (/api/jobs, /api/batches): the same filters and paging
 * for each, only the statuses differ.
 */
export function ownerListQuery<const S extends readonly [string, ...string[]]>(statuses: S) {
  return z.strictObject({
    management_key_id: z.string().max(100).optional(),
    key_id: z.string().max(100).optional(),
    status: z.enum(statuses).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(50),
    /** Unix seconds: rows created before this (the last page's oldest `created_at`). */
    before: z.coerce.number().int().positive().optional(),
  });
}

/** What a list query function is given: the caller's account and the filters of the query. */
export interface OwnerListFilter<S extends string> {
  accountId: string;
  managementKeyId?: string;
  childKeyId?: string;
  status?: S;
  before?: Date;
  limit: number;
}

/**
 * GET / of an owner's list, newest first: parse the query, read one page and answer it as an
 * OpenAI-style list. `toData` turns the page's rows into the objects the route answers with.
 */
export function ownerListRouter<Q extends ReturnType<typeof ownerListQuery>, R>(
  ctx: Context,
  query: Q,
  list: (db: Db, f: OwnerListFilter<NonNullable<z.output<Q>['status']>>) => Promise<R[]>,
  toData: (rows: R[]) => unknown[] | Promise<unknown[]>,
): Router {
  const r = Router();
  r.use(requireOwner(ctx));
  r.get('/', async (req, res) => {
    const q = parse(query, req.query);
    const rows = await list(ctx.sql, {
      accountId: res.locals.accountId,
      managementKeyId: q.management_key_id,
      childKeyId: q.key_id,
      status: q.status,
      before: q.before ? new Date(q.before * 1000) : undefined,
      limit: q.limit,
    });
    // A full page says there may be more; the next page asks `before` its oldest row.
    res.json({ object: 'list', data: await toData(rows), has_more: rows.length === q.limit });
  });
  return r;
}
