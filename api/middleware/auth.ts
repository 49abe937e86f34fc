import type { RequestHandler, Response } from 'express';
import { countAdminAttempt } from '../../shared/accounts/attempt-throttle.js';
import { deadKeyError, liveManagementKey } from '../../shared/admission/key-standing.js';
import { type KeyKind, keyKindOf } from '../../shared/api-keys.js';
import { adminTokenOf, bearerToken, secretMatcher } from '../../shared/bearer.js';
import type { Context } from '../../shared/context.js';
import { findAccountById } from '../../shared/db/queries/accounts.js';
import { findManagementKey } from '../../shared/db/queries/management-keys.js';
import { touchManagementKey } from '../../shared/db/queries/management-keys-auth.js';
import { isSessionRevoked } from '../../shared/db/queries/sessions.js';
import { ApiError } from '../../shared/errors.js';
import { type SessionClaims, verifySession } from '../../shared/jwt.js';
import { noRoute } from './error-handler.js';

const missing = () => new ApiError('authentication_error', 'Missing bearer token');
const wrongKind = (what: string) => new ApiError('permission_error', `${what} cannot be used on this route`);

/** A key on a route not its kind's: 401 if it is no live key (API.md), else 403. */
async function misplaced(ctx: Context, kind: KeyKind, token: string): Promise<ApiError> {
  return (
    (await deadKeyError(ctx, kind, token)) ?? wrongKind(kind === 'gm' ? 'A management key' : 'A child key')
  );
}

/** Accounts seen to exist (accounts are never deleted, so a yes never goes stale). */
const existing = new Set<string>();
const MAX_KNOWN = 100_000;

async function ownerFromJwt(ctx: Context, token: string): Promise<SessionClaims> {
  const claims = await verifySession(ctx.config.JWT_SECRET, token, ctx.config.JWT_TTL_SECONDS);
  if (!claims) throw new ApiError('authentication_error', 'Invalid or expired session token');
  // Looked up on every request, not remembered: a logout stops its session everywhere at once.
  if (claims.jti !== null && (await isSessionRevoked(ctx.sql, claims.jti)))
    throw new ApiError('authentication_error', 'This session was logged out');
  // A valid signature over an account this database does not have (another environment sharing the
  // secret, a database restored from before it): no session, on every route alike.
  if (!existing.has(claims.accountId)) {
    if (!(await findAccountById(ctx.sql, claims.accountId)))
      throw new ApiError('authentication_error', 'Account not found for this session');
    if (existing.size >= MAX_KNOWN) existing.clear();
    existing.add(claims.accountId);
  }
  return claims;
}

/** The request acts for the session's account. */
function actAsOwner(res: Response, session: SessionClaims): void {
  res.locals.accountId = session.accountId;
  res.locals.session = session;
}

/** Owner routes: a session JWT only. */
export function requireOwner(ctx: Context): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req);
    if (!token) throw missing();
    const kind = keyKindOf(token);
    if (kind) throw await misplaced(ctx, kind, token);
    actAsOwner(res, await ownerFromJwt(ctx, token));
    next();
  };
}

/**
 * Child-key routes under /api/management/keys/:id: the owner's JWT, or the `gm-` key of that very
 * management key (a management key never reaches a sibling's children).
 */
export function requireOwnerOrManagementKey(ctx: Context): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req);
    if (!token) throw missing();
    const kind = keyKindOf(token);
    if (kind === 'gc') throw await misplaced(ctx, kind, token);
    if (kind === null) {
      actAsOwner(res, await ownerFromJwt(ctx, token));
      return next();
    }
    const mk = await liveManagementKey(ctx, token);
    if (mk.id !== req.params.id) throw await notItsOwn(ctx, mk.account_id, req.params.id);
    res.locals.accountId = mk.account_id;
    res.locals.managementKeyId = mk.id;
    await touchManagementKey(ctx.sql, mk.id, ctx.clock.now());
    next();
  };
}

/**
 * A `gm-` key on another management key's children: a sibling (its own account's) is a key used
 * where it does not belong, 403 (API.md "any other use is 403"); any other id is not this
 * account's, 404 as for the owner (API.md: another account's resources are never 403).
 */
async function notItsOwn(ctx: Context, accountId: string, id: unknown): Promise<ApiError> {
  const sibling = typeof id === 'string' && (await findManagementKey(ctx.sql, accountId, id));
  return sibling ? wrongKind('This management key') : ApiError.notFound('Management key');
}

/** Admin routes exist only when ADMIN_TOKEN is configured. Wrong tokens are throttled per IP. */
export function requireAdmin(ctx: Context): RequestHandler {
  const matches = ctx.config.ADMIN_TOKEN ? secretMatcher(ctx.config.ADMIN_TOKEN) : null;
  return async (req, _res, next) => {
    if (!matches) throw noRoute(req);
    const attempt = await countAdminAttempt(ctx, req.ip ?? '');
    const token = adminTokenOf(req) ?? '';
    if (matches(token)) {
      await attempt.succeeded();
      return next();
    }
    // A credential of another kind that is valid is used where it does not belong: 403, as on
    // every route (API.md); anything else is no credential here.
    const kind = keyKindOf(token);
    if (kind) throw await misplaced(ctx, kind, token);
    // A session as every owner route takes one (signed, and its account exists).
    if (await ownerFromJwt(ctx, token).catch(() => null)) throw wrongKind('A session token');
    throw new ApiError('authentication_error', 'Invalid admin token');
  };
}
