import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1] ?? null;
}

/** The admin token a request presents: its bearer, or an `x-admin-token` header. */
export function adminTokenOf(req: IncomingMessage): string | null {
  const given = req.headers['x-admin-token'];
  return bearerToken(req) ?? (typeof given === 'string' ? given : null);
}

/**
 * Whether a presented secret is `expected`, in constant time: what it takes tells neither how much
 * matched nor (both are hashed to one length first) how long the secret is.
 */
export function secretMatcher(expected: string): (given: string | null | undefined) => boolean {
  const want = digest(expected);
  return (given) => timingSafeEqual(digest(given ?? ''), want);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
