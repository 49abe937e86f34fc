import { z } from 'zod';
import type { Context } from '../context.js';
import { deleteExpiredFiles } from '../db/queries/files.js';

/**
 * OpenAI's `expires_after` (POST /v1/files) and `output_expires_after` (POST /v1/batches): a file
 * expires `seconds` after it is created, from an hour to 30 days, as OpenAI bounds it. A multipart
 * upload sends it as `expires_after[anchor]` and `expires_after[seconds]` (strings).
 */
export const expiresAfterInput = z.strictObject({
  anchor: z.literal('created_at', 'must be "created_at"'),
  seconds: z.coerce.number().int().min(3600).max(2_592_000),
});

/** When a file created `at` expires, or null for none. */
export function expiresAfter(at: Date, seconds: number | null | undefined): Date | null {
  return seconds ? new Date(at.getTime() + seconds * 1000) : null;
}

/** Files deleted per statement by the expire-files task. */
const PER_RUN = 500;

/**
 * The scheduler's expire-files task: every file past its `expires_at` is deleted as
 * DELETE /v1/files/:id deletes it (its bytes go; its record stays, marked, for the batches that
 * name it). A batch made from an expired input file is not touched: its lines were copied.
 */
export async function expireFiles(ctx: Context): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await deleteExpiredFiles(ctx.sql, ctx.clock.now(), PER_RUN);
    total += n;
    if (n < PER_RUN) break;
  }
  if (total > 0) ctx.logger.info({ files: total }, 'expired files deleted');
  return total;
}
