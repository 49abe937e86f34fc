import { createHmac } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { type Request, type RequestHandler, Router } from 'express';
import { countAdminAttempt } from '../../shared/accounts/attempt-throttle.js';
import { adminTokenOf, secretMatcher } from '../../shared/bearer.js';
import type { Context } from '../../shared/context.js';
import { ApiError } from '../../shared/errors.js';
import { type QueueName, type Queues, queuePayloads } from '../../shared/queues.js';

export const ADMIN_QUEUES_PATH = '/admin/queues';
const COOKIE = 'gw_admin';

function cookie(req: Request, name: string): string | null {
  for (const part of (req.header('cookie') ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

/**
 * What the board's cookie holds: a value derived from ADMIN_TOKEN, not the token. A cookie that
 * leaks (a shared browser profile, a proxy's log) opens the board, not the admin routes (top-ups),
 * and it stops working when the token changes.
 */
const boardSession = (adminToken: string): string =>
  createHmac('sha256', adminToken).update('gonka-gateway admin queues session').digest('base64url');

/**
 * A browser opens the board once with `?token=`: an HttpOnly, SameSite=Strict cookie scoped to the
 * board takes over (its pages and API calls carry no header; boardSession) and the browser is sent
 * to the same URL without the token. Mount this before the access log, so the token is never
 * written there.
 */
export function adminQueuesLanding(ctx: Context, expected: string): RequestHandler {
  const matches = secretMatcher(expected);
  const session = boardSession(expected);
  return async (req, res, next) => {
    const url = new URL(req.originalUrl, 'http://x');
    const token = url.searchParams.get('token');
    if (token === null) return next();
    const attempt = await countAdminAttempt(ctx, req.ip ?? '');
    if (!matches(token)) throw new ApiError('authentication_error', 'Invalid admin token');
    await attempt.succeeded();
    url.searchParams.delete('token');
    res.cookie(COOKIE, session, {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      path: ADMIN_QUEUES_PATH,
    });
    res.redirect(303, url.pathname + url.search);
  };
}

/** The admin token in a header (scripts), or the landing's cookie (browsers); wrong ones throttled. */
function requireAdminToken(ctx: Context, expected: string): RequestHandler {
  const matches = secretMatcher(expected);
  const isSession = secretMatcher(boardSession(expected));
  return async (req, _res, next) => {
    const attempt = await countAdminAttempt(ctx, req.ip ?? '');
    const header = adminTokenOf(req);
    const ok = header !== null ? matches(header) : isSession(cookie(req, COOKIE));
    if (!ok) throw new ApiError('authentication_error', 'Admin token required');
    await attempt.succeeded();
    next();
  };
}

/** /admin/queues: every BullMQ queue in bull-board, for operators holding ADMIN_TOKEN. */
export function adminQueuesRouter(ctx: Context, queues: Queues): Router | null {
  if (!ctx.config.ADMIN_TOKEN) return null; // admin routes are off without it (API.md): 404
  const board = new ExpressAdapter();
  board.setBasePath(ADMIN_QUEUES_PATH);
  createBullBoard({
    // Settlement is read-only here: emptying, pausing or cleaning it would leave answered requests
    // unbilled (their holds voided at their deadlines). The other queues keep the board's actions.
    queues: (Object.keys(queuePayloads) as QueueName[]).map(
      (q) => new BullMQAdapter(queues.get(q), { readOnlyMode: q === 'settlement' }),
    ),
    // @bull-board/express ships its own copy of @bull-board/api (a patch version apart): the same
    // interface at runtime, two declarations to the type checker.
    serverAdapter: board as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: `${ctx.config.BRAND_NAME} queues` } },
  });
  const r = Router();
  r.use(requireAdminToken(ctx, ctx.config.ADMIN_TOKEN));
  r.use(board.getRouter());
  return r;
}
