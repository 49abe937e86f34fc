import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { type RequestHandler, Router } from 'express';
import multer from 'multer';
import pLimit, { type LimitFunction } from 'p-limit';
import { z } from 'zod';
import { expiresAfterInput } from '../../shared/batches/file-expiry.js';
import { FILE_CHUNK_BYTES } from '../../shared/batches/file-store.js';
import {
  checkStorageRoom,
  findVisibleFile,
  removeFile,
  uploadBatchFile,
} from '../../shared/batches/files.js';
import { formatFile } from '../../shared/batches/format.js';
import { uploadSpoolDir } from '../../shared/batches/upload-spool.js';
import type { Context } from '../../shared/context.js';
import { type FilePurpose, findFile, listFiles } from '../../shared/db/queries/files.js';
import { ApiError } from '../../shared/errors.js';
import { visibleToKey } from '../../shared/jobs/visibility.js';
import { unstorable } from '../../shared/json-body-check.js';
import { watchFileUploads } from '../../shared/metrics/registry.js';
import { parse } from '../../shared/validate.js';
import { sendFileContent } from '../file-content.js';
import { listPage, refuseHiddenCursor } from '../list-page.js';
import { queryLimit } from '../schemas/common.js';

/**
 * Multipart upload of one file of at most `maxBytes`, spooled to a temporary file in the upload
 * spool under `TMPDIR` (best not a RAM disk: files reach 200 MiB). multer removes it if the upload
 * fails, the route once it is stored, the spool's sweeper if the process died in between. The file
 * is then checked and stored in Postgres a chunk at a time, in a transaction that waits for the
 * disk, not for a slow client. multer's failures in the API's envelope: too large is 413, anything
 * else malformed is 400, and a failing spool disk is a 500.
 */
function receiveFile(field: string, maxBytes: number): RequestHandler {
  const spool = uploadSpoolDir();
  const handler = multer({
    storage: multer.diskStorage({
      // Made again if a temp-directory cleaner removed it since the last upload.
      destination: (_req, _file, done) => {
        mkdir(spool, { recursive: true }).then(
          () => done(null, spool),
          (err: Error) => done(err, spool),
        );
      },
    }),
    limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 64 * 1024 },
    // A file name as browsers and the openai client send it (UTF-8, unencoded): busboy's default
    // reads it as latin1, which garbles any name outside ASCII.
    defParamCharset: 'utf8',
    // A purpose sent before the file (the openai client's order) that is not "batch" refuses the
    // upload before the file reaches the disk: up to BATCH_FILE_MAX_BYTES written for nothing, and
    // outside the account's storage quota. One sent after it, or none, the route checks.
    fileFilter: (req, _file, done) => {
      const purpose: unknown = req.body?.purpose;
      if (purpose === undefined || purpose === 'batch') done(null, true);
      else done(ApiError.invalid('purpose', 'purpose: must be "batch"'));
    },
  }).single(field);
  return (req, res, next) => {
    handler(req, res, (err?: unknown) => {
      if (!err) return next();
      if (err instanceof ApiError) return next(err); // the file filter's
      if (err instanceof multer.MulterError && err.code === 'LIMIT_FILE_SIZE')
        return next(new ApiError('payload_too_large', `The file is larger than ${maxBytes} bytes`));
      // The spool's disk failed (full, say): the gateway's fault, a 500 that names no path.
      if (err instanceof Error && 'syscall' in err) return next(err);
      const message = err instanceof Error ? err.message : 'Malformed multipart body';
      next(ApiError.invalid(err instanceof multer.MulterError ? (err.field ?? 'file') : 'file', message));
    });
  };
}

/**
 * At most `total` uploads of this process are received at once (UPLOADS_RECEIVING), and at most
 * `perAccount` of one account (UPLOADS_PER_ACCOUNT); a later one waits for a turn before its body is
 * read, so its bytes stay in the socket. Receiving takes as long as the client sends, up to
 * REQUEST_TIMEOUT_MS: when the few turns there were were held through it, two slow uploads of one
 * customer kept every account's uploads waiting for minutes. An account's own turn comes first, so
 * its queue holds none of the process's. A turn passes on when the answer is sent or the client
 * goes away.
 */
function receivingInTurn(total: number, perAccount: number): RequestHandler {
  const turns = pLimit(total);
  const accounts = new Map<string, LimitFunction>();
  // Waiting: for the process's turn, or behind their own account's uploads.
  watchFileUploads(() => {
    let behindAccount = 0;
    for (const own of accounts.values()) behindAccount += own.pendingCount;
    return { receiving: turns.activeCount, waiting: turns.pendingCount + behindAccount };
  });
  return (_req, res, next) => {
    const account: string = res.locals.childKey.account_id;
    const own = accounts.get(account) ?? pLimit(perAccount);
    accounts.set(account, own);
    const receive = () =>
      new Promise<void>((done) => {
        if (res.closed) return done(); // the client left while it waited
        res.once('close', () => done());
        next();
      });
    void own(() => turns(receive)).finally(() => {
      if (own.activeCount === 0 && own.pendingCount === 0) accounts.delete(account);
    });
  };
}

/**
 * The form fields of an upload besides the file: OpenAI's `purpose` and `expires_after` (the file is
 * deleted that long after its upload; the openai client sends it as `expires_after[anchor]` and
 * `expires_after[seconds]`, which the multipart parser nests). Any other is refused by name.
 */
const uploadFields = z.strictObject({
  purpose: z.unknown().optional(), // checked below, missing or not, in one message
  expires_after: expiresAfterInput.optional(),
});

/** The purposes of the files kept here: batch input, and the batches' output and error files. */
const HELD_PURPOSES = ['batch', 'batch_output'] as const satisfies readonly FilePurpose[];
const isHeld = (purpose: string): purpose is FilePurpose =>
  (HELD_PURPOSES as readonly string[]).includes(purpose);

/**
 * OpenAI's list parameters for GET /v1/files (its default and largest page: 10,000 files). Its
 * purposes are all accepted, as a client filtering by one of them expects: those this gateway never
 * holds list nothing.
 */
export const listFilesQuery = z.strictObject({
  purpose: z
    .enum([
      ...HELD_PURPOSES,
      'assistants',
      'assistants_output',
      'fine-tune',
      'fine-tune-results',
      'vision',
      'user_data',
      'evals',
    ])
    .optional(),
  limit: queryLimit(10_000, 10_000),
  order: z.enum(['asc', 'desc']).default('desc'),
  after: z.string().max(100).optional(),
});

/** /v1/files: batch input files, and the batches' output and error files. */
export function v1FilesRouter(ctx: Context): Router {
  const r = Router();
  const storing = pLimit(ctx.config.UPLOADS_IN_FLIGHT);

  r.post(
    '/',
    // An account already full is told before its file is received; the upload's commit checks again.
    async (_req, res, next) => {
      await checkStorageRoom(ctx, ctx.sql, res.locals.childKey.account_id);
      next();
    },
    receivingInTurn(ctx.config.UPLOADS_RECEIVING, ctx.config.UPLOADS_PER_ACCOUNT),
    receiveFile('file', ctx.config.BATCH_FILE_MAX_BYTES),
    async (req, res) => {
      const spooled = req.file?.path;
      try {
        const { purpose, expires_after } = parse(uploadFields, req.body);
        if (purpose !== 'batch') throw ApiError.invalid('purpose', 'purpose: must be "batch"');
        if (!req.file || !spooled)
          throw ApiError.invalid('file', 'Attach the JSONL file as the multipart field "file"');
        if (unstorable(req.file.originalname))
          throw ApiError.invalid(
            'file',
            'The file name may not contain a NUL character or an unpaired surrogate',
          );
        // Spooled: checked and stored in turn (UPLOADS_IN_FLIGHT), each holding a Postgres connection.
        const { originalname } = req.file;
        const file = await storing(() =>
          uploadBatchFile(ctx, res.locals.childKey, {
            filename: originalname,
            content: createReadStream(spooled, { highWaterMark: FILE_CHUNK_BYTES }),
            expiresAfterSeconds: expires_after?.seconds ?? null,
          }),
        );
        res.json(formatFile(file));
      } finally {
        if (spooled) await rm(spooled, { force: true });
      }
    },
  );

  r.get('/', async (req, res) => {
    const q = parse(listFilesQuery, req.query);
    const { purpose } = q;
    if (purpose !== undefined && !isHeld(purpose)) {
      res.json(listPage([], 0, q.limit));
      return;
    }
    await refuseHiddenCursor(
      q.after,
      (id) => findFile(ctx.sql, id, ctx.clock.now()),
      (f) => visibleToKey(f, res.locals.childKey),
      'a file this key can list',
    );
    const rows = await listFiles(ctx.sql, {
      scope: { managementKeyId: res.locals.childKey.management_key_id },
      ...(purpose ? { purpose } : {}),
      order: q.order,
      ...(q.after ? { afterId: q.after } : {}),
      limit: q.limit + 1,
      now: ctx.clock.now(),
    });
    res.json(listPage(rows.slice(0, q.limit).map(formatFile), rows.length, q.limit));
  });

  r.delete('/:id', async (req, res) => {
    const id = String(req.params.id);
    await removeFile(ctx, await findVisibleFile(ctx, res.locals.childKey, id));
    res.json({ id, object: 'file', deleted: true });
  });

  r.get('/:id', async (req, res) => {
    res.json(formatFile(await findVisibleFile(ctx, res.locals.childKey, String(req.params.id))));
  });

  r.get('/:id/content', async (req, res) => {
    await sendFileContent(ctx, res, await findVisibleFile(ctx, res.locals.childKey, String(req.params.id)));
  });

  return r;
}
