import { hashApiKey, keyKindOf, secretFingerprint } from '../api-keys.js';
import type { Context } from '../context.js';
import { type ChildKeyIdentity, findChildKeyByHash } from '../db/queries/admission-state.js';
import { ApiError } from '../errors.js';
import { verifySession } from '../jwt.js';
import { redisOutOfReach } from '../redis/client.js';
import { liveManagementKey } from './key-standing.js';
import { unknownKey } from './refusals.js';

/**
 * hash → identity. Safe to cache without expiry: a key's id, account and parent never change, and
 * everything that does (status, limits, expiry, which secrets still work after a rotation) is
 * checked in Redis on every request.
 */
const identities = new Map<string, ChildKeyIdentity>();
const MAX_CACHED = 100_000;

/** Who is calling /v1: a child key's identity, or a 401/403 in the API.md envelope. */
export async function authenticateChildKey(ctx: Context, token: string | null): Promise<ChildKeyIdentity> {
  // Every /v1 request goes through Redis next (admission or the key check). While Redis is out of
  // reach, say so at once rather than after ioredis's retries (seconds, then a 500).
  if (redisOutOfReach(ctx.redis)) throw ApiError.unavailable();
  if (!token) throw new ApiError('invalid_api_key', 'Missing API key', { code: 'key_unknown' });
  const kind = keyKindOf(token);
  if (kind === 'gm') {
    // A live management key is misplaced here (403); a dead one is no key at all (401, its code).
    await liveManagementKey(ctx, token);
    throw new ApiError('permission_error', 'Management keys cannot run inference; use a child key');
  }
  // A live session token is a real credential used in the wrong place (API.md: 403); anything else,
  // a forged, expired or foreign JWT included, is no key of ours, and OpenAI clients expect an
  // unknown key to be a 401.
  if (kind !== 'gc') {
    if (await verifySession(ctx.config.JWT_SECRET, token, ctx.config.JWT_TTL_SECONDS))
      throw new ApiError('permission_error', 'Inference needs a child key (gc-…)');
    throw unknownKey();
  }
  const hash = hashApiKey(token);
  const cacheKey = hash.toString('base64');
  const cached = identities.get(cacheKey);
  if (cached) return cached;
  const row = await findChildKeyByHash(ctx.sql, hash);
  if (!row) throw unknownKey();
  const found = { ...row, secret: secretFingerprint(hash) };
  if (identities.size >= MAX_CACHED) identities.clear();
  identities.set(cacheKey, found);
  return found;
}
