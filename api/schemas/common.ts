import { z } from 'zod';
import { ApiError } from '../../shared/errors.js';

/** A key's display name: trimmed, so "   " is as empty as "". */
export const keyName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters');

/** ISO-8601 with an explicit offset (`Z` or `+02:00`): a bare local time would be ambiguous. */
export const isoInstant = z.iso
  .datetime({ offset: true, message: 'must be an ISO-8601 date-time with a timezone' })
  .transform((v) => new Date(v));

/** The future check needs the request's clock, so it runs in the handler, not in the schema. */
export function assertFuture(param: string, at: Date | null | undefined, now: Date): void {
  if (at && at.getTime() <= now.getTime()) throw ApiError.invalid(param, `${param}: must be in the future`);
}

/**
 * Metadata is echoed on every get and list, and stored inline in the key row; 16 KB is plenty for
 * labels and customer references while keeping a list of thousands of keys (and the row) small.
 */
export const METADATA_MAX_BYTES = 16 * 1024;

// Text Postgres cannot store (a NUL, a lone surrogate) is refused for every JSON body before any
// route reads it (shared/json-body-check.ts), metadata included.
export const metadataInput = z
  .preprocess(
    (v, ctx) => {
      // A `__proto__` key would be dropped on the way through (an object cannot hold it as data):
      // refused rather than lost without a word.
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__'))
        ctx.addIssue({ code: 'custom', message: 'must not have a key named __proto__' });
      return v;
    },
    z.record(z.string(), z.unknown()),
  )
  .refine(
    (v) => Buffer.byteLength(JSON.stringify(v)) <= METADATA_MAX_BYTES,
    `must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
  );

export const ngonkaString = z.string().regex(/^\d+$/).describe('nGNK, a non-negative integer as a string');
export const isoString = z.string().describe('ISO-8601 UTC date-time');

export const errorResponse = (description: string) => ({
  description,
  content: {
    'application/json': {
      schema: z.object({
        error: z.object({ type: z.string(), message: z.string(), param: z.string().nullable().optional() }),
      }),
    },
  },
});

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
