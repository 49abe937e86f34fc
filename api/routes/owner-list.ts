import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import type { Db } from '../../shared/db/client.js';
import { ApiError } from '../../shared/errors.js';
import { parse } from '../../shared/validate.js';
import { listPage, refuseHiddenCursor } from '../list-page.js';
import { requireOwner } from '../middleware/auth.js';
import { requestContext } from '../request-context.js';
import { queryLimit } from '../schemas/common.js';

/**
 * 9999-12-31T23:59:59Z in Unix seconds: the last instant whose ISO string Postgres reads (a later
 * Date's is an extended year, +010000-…, which it refuses: a 500).
 */
const MAX_DATE_SECONDS = 253_402_300_799;

/**
 * The query of an owner's list across keys (/api/jobs, /api/batches): the same filters and paging
 * for each, only the statuses differ.
 */
export function ownerListQuery<const S extends readonly [string, ...string[]]>(statuses: S) {
  return z.strictObject({
    management_key_id: z.string().max(100).optional(),
    key_id: z.string().max(100).optional(),
    status: z.enum(statuses).optional(),
    limit: queryLimit(100, 50),
    after: z
      .string()
      .max(100)
      .optional()
      .describe(
        'Exact cursor: rows listed after this id (the last page’s `last_id`), in the order of the list ' +
          '(`created_at`, then `id`, both descending). Pages without skipping or repeating a row.',
      ),
    before: z.coerce
      .number()
      .int()
      .positive()
      // The last second a Date holds: past it `new Date` is invalid and Postgres was sent nothing.
      .max(MAX_DATE_SECONDS)
      .optional()
      .describe(
        'Unix seconds: rows created before this. Whole seconds, so rows created in the same second as ' +
          'a page’s oldest row are skipped; page with `after` instead.',
      ),
  });
}

/** What a list query function is given: the caller's account and the filters of the query. */
export interface OwnerListFilter<S extends string> {
  accountId: string;
  managementKeyId?: string;
  childKeyId?: string;
  status?: S;
  /** Only rows after this one of the account in the list's order (the `after` cursor). */
  afterId?: string;
  before?: Date;
  limit: number;
}

/** How one owner's list reads its rows and answers them. */
export interface OwnerList<Q extends ReturnType<typeof ownerListQuery>, R extends { account_id: string }> {
  query: Q;
  /** What the list holds, for the error of an `after` that is none of them ("jobs", "batches"). */
  holds: string;
  /** One of them, for a 404 ("Job", "Batch"). */
  noun: string;
  list: (db: Db, f: OwnerListFilter<NonNullable<z.output<Q>['status']>>) => Promise<R[]>;
  /** A row by id, whatever its account, to tell an unknown `after` from the end of the list. */
  find: (db: Db, id: string) => Promise<R | null>;
  /** Whether a row of the account is one the list shows (a job list leaves out batch lines). */
  shows?: (row: R) => boolean;
  /** The objects the route answers with, one per row. */
  toData: (rows: R[]) => { id: string }[] | Promise<{ id: string }[]>;
  /**
   * POST /:id/cancel, where the owner may cancel a row the list shows: the row after it. `rctx` is
   * the request's context (its log lines carry the request id).
   */
  cancel?: (row: R, rctx: Context) => Promise<R>;
}

/**
 * GET / of an owner's list, newest first: parse the query, read one page and answer it as an
 * OpenAI-style list, paged like /v1/batches (`after` the last page's `last_id`); GET /:id of one of
 * the rows it shows (another account's is a 404). With `cancel`, also POST /:id/cancel of one.
 */
export function ownerListRouter<
  Q extends ReturnType<typeof ownerListQuery>,
  R extends { account_id: string },
>(ctx: Context, l: OwnerList<Q, R>): Router {
  const r = Router();
  r.use(requireOwner(ctx));
  r.get('/', async (req, res) => {
    const q = parse(l.query, req.query);
    const accountId: string = res.locals.accountId;
    // One row past the page says whether another follows, so an exactly full last page ends it.
    const rows = await l.list(ctx.sql, {
      accountId,
      managementKeyId: q.management_key_id,
      childKeyId: q.key_id,
      status: q.status,
      afterId: q.after,
      before: q.before ? new Date(q.before * 1000) : undefined,
      limit: q.limit + 1,
    });
    await refuseForeignCursor(rows, q.after, accountId, l.holds, (id) => l.find(ctx.sql, id));
    const data = await l.toData(rows.slice(0, q.limit));
    res.json(listPage(data, rows.length, q.limit));
  });

  /** One row the list shows, of the caller's account; anything else is a 404. */
  const load = async (id: string, accountId: string): Promise<R> => {
    const row = await l.find(ctx.sql, id);
    if (row?.account_id !== accountId || !(l.shows?.(row) ?? true)) throw ApiError.notFound(l.noun);
    return row;
  };

  r.get('/:id', async (req, res) => {
    const [data] = await l.toData([await load(String(req.params.id), res.locals.accountId)]);
    res.json(data);
  });

  const { cancel } = l;
  if (cancel)
    r.post('/:id/cancel', async (req, res) => {
      const row = await load(String(req.params.id), res.locals.accountId);
      const [data] = await l.toData([await cancel(row, requestContext(ctx, res))]);
      res.json(data);
    });
  return r;
}

/**
 * An `after` that is not the account's lists nothing, which would read as the end of the list:
 * refuse it instead (refuseHiddenCursor). Only an empty page needs the look-up, so paging costs no
 * extra query.
 */
export async function refuseForeignCursor(
  page: readonly unknown[],
  after: string | undefined,
  accountId: string,
  holds: string,
  find: (id: string) => Promise<{ account_id: string } | null>,
): Promise<void> {
  if (page.length === 0)
    await refuseHiddenCursor(after, find, (row) => row.account_id === accountId, `one of your ${holds}`);
}
