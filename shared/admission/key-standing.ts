import { hashApiKey, type KeyKind } from '../api-keys.js';
import type { Context } from '../context.js';
import {
  type ChildKeyAuthRow,
  type ChildKeySecretStanding,
  findChildKeyStandingByHash,
  findManagementKeyByHash,
  type ManagementKeyAuthRow,
} from '../db/queries/management-keys-auth.js';
import type { ApiError } from '../errors.js';
import { effectiveChildKeyStatus } from '../keys/child-keys.js';
import { inactiveKeyError, unknownKey } from './refusals.js';

function managementKeyRefusal(mk: ManagementKeyAuthRow | null): ApiError | null {
  if (!mk) return unknownKey();
  return mk.status === 'active' ? null : inactiveKeyError(mk.status);
}

/** A management key by its token, or the 401 API.md gives an unknown, disabled or revoked one. */
export async function liveManagementKey(ctx: Context, token: string): Promise<ManagementKeyAuthRow> {
  const mk = await findManagementKeyByHash(ctx.sql, hashApiKey(token), ctx.clock.now());
  const refusal = managementKeyRefusal(mk);
  if (refusal) throw refusal;
  return mk!;
}

/**
 * A `gm-`/`gc-` key presented where it does not belong: API.md's 401 (with its `code`) when it is
 * not a live key at all, checked first so that a dead key never reads as a misplaced live one;
 * null when it is live (the caller's 403 then). The child key's rule is admission's (key-checks.lua).
 */
export async function deadKeyError(ctx: Context, kind: KeyKind, token: string): Promise<ApiError | null> {
  if (kind === 'gm')
    return managementKeyRefusal(await findManagementKeyByHash(ctx.sql, hashApiKey(token), ctx.clock.now()));
  const ck = await findChildKeyStandingByHash(ctx.sql, hashApiKey(token));
  return ck ? childKeyRefusal(ck, ctx.clock.now()) : unknownKey();
}

/**
 * The 401 a child key gets at `now` by its standing in Postgres, or null while it is live:
 * admission's rule (key-checks.lua), in its order, for the paths that read Postgres instead (a dead
 * key found out of place, by the secret presented; a queued job about to run, by its key: no secret).
 */
export function childKeyRefusal(
  ck: ChildKeyAuthRow & Partial<Pick<ChildKeySecretStanding, 'is_previous' | 'previous_until'>>,
  now: Date,
): ApiError | null {
  if (ck.mk_status === 'revoked') return inactiveKeyError('revoked');
  // The secret its last rotation replaced works only while that rotation's grace lasts.
  if (ck.is_previous && !(ck.previous_until && now < ck.previous_until)) return inactiveKeyError('rotated');
  // Its status as its GET shows it: past its expiry it is expired, disabled or not; deleted wins.
  const status = effectiveChildKeyStatus(ck, now);
  return status === 'active' ? null : inactiveKeyError(status);
}
