import { type Logger, pino } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line: keys, passwords, tokens, secrets. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-admin-token"]',
  'password',
  '*.password',
  'token',
  '*.token',
  'key',
  '*.key',
  'secret',
  '*.secret',
  'privateKey',
];

export function createLogger(level: string, name = 'gateway'): Logger {
  return pino({ name, level, redact: { paths: redactPaths, censor: '[redacted]' } });
}
