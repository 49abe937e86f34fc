import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  spoolAbandonedMs,
  startUploadSpoolSweeper,
  sweepUploadSpool,
} from '../../shared/batches/upload-spool.js';

const HOUR = 3600_000;

/** A spool with files last written `ageMs` ago, by name. */
function spoolWith(files: Record<string, number>): string {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  for (const [name, ageMs] of Object.entries(files)) {
    const path = join(dir, name);
    writeFileSync(path, 'x'.repeat(100));
    const at = new Date(Date.now() - ageMs);
    utimesSync(path, at, at);
  }
  return dir;
}

describe('the upload spool sweep', () => {
  it('removes files untouched past the limit and keeps those still being written', async () => {
    const dir = spoolWith({
      crashed: 2 * HOUR,
      justOver: HOUR + 60_000,
      receiving: 1_000,
      storing: 30 * 60_000,
    });
    mkdirSync(join(dir, 'not-a-spooled-file'));
    expect(await sweepUploadSpool(dir, new Date(), HOUR)).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(['not-a-spooled-file', 'receiving', 'storing']);
    expect(await sweepUploadSpool(dir, new Date(), HOUR)).toBe(0);
  });

  it('finds nothing to do before the first upload made the directory', async () => {
    expect(await sweepUploadSpool(join(tmpdir(), 'no-such-spool-dir-x9'), new Date(), HOUR)).toBe(0);
  });

  it('sweeps as the api starts and says what it removed', async () => {
    const dir = spoolWith({ crashed: 3 * HOUR, receiving: 0 });
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const stop = startUploadSpoolSweeper(dir, { logger, requestTimeoutMs: 300_000 });
    await stop(); // waits for the sweep it started
    expect(readdirSync(dir)).toEqual(['receiving']);
    expect(lines).toMatchObject([{ msg: 'removed abandoned upload spool files', removed: 1, dir }]);
  });

  it('waits an hour, or twice the request timeout where that is longer', () => {
    expect(spoolAbandonedMs(300_000)).toBe(HOUR);
    expect(spoolAbandonedMs(2 * HOUR)).toBe(4 * HOUR);
  });
});
