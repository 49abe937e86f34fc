import { Router } from 'express';
import { z } from 'zod';
import { findOwnerFile, removeFile } from '../../shared/batches/files.js';
import { formatFile } from '../../shared/batches/format.js';
import type { Context } from '../../shared/context.js';
import { findFile, listFiles } from '../../shared/db/queries/files.js';
import { parse } from '../../shared/validate.js';
import { sendFileContent } from '../file-content.js';
import { listPage } from '../list-page.js';
import { requireOwner } from '../middleware/auth.js';
import { queryLimit } from '../schemas/common.js';
import { refuseForeignCursor } from './owner-list.js';

export const listOwnerFilesQuery = z.strictObject({
  management_key_id: z.string().max(100).optional(),
  purpose: z.enum(['batch', 'batch_output']).optional(),
  limit: queryLimit(100, 50),
  after: z
    .string()
    .max(100)
    .optional()
    .describe('Exact cursor: files listed after this id (the last page’s `last_id`), newest first.'),
});

/**
 * /api/files (owner JWT): the files of every management key of the account, batch inputs and the
 * batches' output and error files, to list, download and delete from the dashboard. The same files
 * as /v1/files shows each management key's child keys.
 */
export function ownerFilesRouter(ctx: Context): Router {
  const r = Router();
  r.use(requireOwner(ctx));

  r.get('/', async (req, res) => {
    const q = parse(listOwnerFilesQuery, req.query);
    const accountId: string = res.locals.accountId;
    const rows = await listFiles(ctx.sql, {
      scope: { accountId, ...(q.management_key_id ? { managementKeyId: q.management_key_id } : {}) },
      ...(q.purpose ? { purpose: q.purpose } : {}),
      order: 'desc',
      ...(q.after ? { afterId: q.after } : {}),
      limit: q.limit + 1,
      now: ctx.clock.now(),
    });
    await refuseForeignCursor(rows, q.after, accountId, 'files', (id) =>
      findFile(ctx.sql, id, ctx.clock.now()),
    );
    const data = rows
      .slice(0, q.limit)
      .map((f) => ({ ...formatFile(f), management_key_id: f.management_key_id }));
    res.json(listPage(data, rows.length, q.limit));
  });

  r.get('/:id/content', async (req, res) => {
    await sendFileContent(ctx, res, await findOwnerFile(ctx, res.locals.accountId, String(req.params.id)));
  });

  r.delete('/:id', async (req, res) => {
    const id = String(req.params.id);
    await removeFile(ctx, await findOwnerFile(ctx, res.locals.accountId, id));
    res.json({ id, object: 'file', deleted: true });
  });

  return r;
}
