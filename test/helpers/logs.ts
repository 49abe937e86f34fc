import { pino } from 'pino';
import type { Logger } from '../../shared/logger.js';

/** A logger whose lines a test can read (parsed), at `level` and above. */
export function capturedLogger(level = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { logger, lines };
}
