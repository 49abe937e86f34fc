import { validate as validCron } from 'node-cron';
import { z } from 'zod';

/* The kinds of value the environment's settings take (shared/config.ts and its parts). */

/** `true`/`false`/`1`/`0` from the environment; zod's coerce would read "false" as true. */
export const envBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const positiveInt = z.coerce.number().int().positive();

/** A node-cron expression (five fields, or six with seconds first). */
export const cron = z
  .string()
  .refine((v) => validCron(v), 'must be a cron expression, such as "*/5 * * * *"');
export const nonNegativeBigint = z
  .string()
  .regex(/^\d+$/, 'must be a non-negative integer')
  .transform((v) => BigInt(v));
