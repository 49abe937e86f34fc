import type { z } from 'zod';
import { ApiError } from './errors.js';

/**
 * Parse input with a zod schema; the first problem becomes a 400 naming its `param` (an unknown
 * field names itself). The routes' and a batch line's request's, so a
 * line fails with the very 400 a chat call of it would get.
 */
export function parse<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new ApiError('invalid_request_error', 'Invalid request', { param: null });
  if (issue.code === 'unrecognized_keys') {
    const param = [...issue.path, issue.keys[0]].join('.');
    throw ApiError.invalid(param, `Unknown field: ${param}`);
  }
  const param = issue.path.join('.') || null;
  const message = param ? `${param}: ${issue.message}` : issue.message;
  throw new ApiError('invalid_request_error', message, { param });
}
