import type { ServerResponse } from 'node:http';
import type { Context } from '../shared/context.js';
import { withLogFields } from '../shared/log-context.js';

/**
 * The context a route hands the work it starts, so that every line logged while serving the
 * request, however deep (a node failed over, a settlement retried, a batch created), carries its
 * request id. Express routes; the fast path (fast-v1.ts) makes its own.
 */
export function requestContext(
  ctx: Context,
  res: ServerResponse & { locals: { requestId: string } },
): Context {
  return withLogFields(ctx, { requestId: res.locals.requestId });
}
