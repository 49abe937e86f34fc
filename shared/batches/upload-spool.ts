import { readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../logger.js';

/**
 * Where POST /v1/files spools uploads before it checks and stores them: a directory of the
 * gateway's own under TMPDIR, shared by the api processes of one machine, so what a crashed one
 * left behind can be found and removed by any other (or by the same one, restarted).
 */
export function uploadSpoolDir(): string {
  return join(tmpdir(), 'gonka-gateway-uploads');
}

/**
 * A spooled file untouched this long belongs to no upload still running: one is written as its
 * bytes arrive, within REQUEST_TIMEOUT_MS, then read once to be checked and stored, within minutes
 * even at 200 MiB. An hour, or twice the request timeout where that is longer.
 */
export function spoolAbandonedMs(requestTimeoutMs: number): number {
  return Math.max(3600_000, 2 * requestTimeoutMs);
}

/**
 * Remove the spooled files last written more than `olderThanMs` ago: uploads whose process died
 * between receiving and storing them (a clean failure removes its own). A file that vanishes
 * meanwhile (its upload finished) is skipped. Returns how many were removed.
 */
export async function sweepUploadSpool(dir: string, now: Date, olderThanMs: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0; // no upload yet
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    try {
      const s = await stat(path);
      if (!s.isFile() || now.getTime() - s.mtimeMs <= olderThanMs) continue;
      await rm(path, { force: true });
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}

/**
 * Sweep the spool when the api starts and every `everyMs` after, so a crash's leftovers (up to
 * BATCH_FILE_MAX_BYTES each) do not pile up on the disk. Returns the stop.
 */
export function startUploadSpoolSweeper(
  dir: string,
  deps: { logger: Logger; requestTimeoutMs: number },
  everyMs = 15 * 60_000,
): () => Promise<void> {
  const { logger } = deps;
  const olderThanMs = spoolAbandonedMs(deps.requestTimeoutMs);
  let running: Promise<void> = Promise.resolve();
  const sweep = () => {
    // The files' own times are the system's, whatever clock the gateway is given.
    running = sweepUploadSpool(dir, new Date(), olderThanMs).then(
      (removed) => {
        if (removed > 0) logger.warn({ dir, removed }, 'removed abandoned upload spool files');
      },
      (err: unknown) => logger.warn({ err, dir }, 'sweeping the upload spool failed'),
    );
  };
  sweep();
  const timer = setInterval(sweep, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
