import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';

const ISSUER = 'gonka-gateway';
/** How far ahead of this host's clock another api process's may run. */
const CLOCK_SKEW_S = 30;

export interface SessionClaims {
  accountId: string;
  /** The session's id, by which logging out revokes it; absent in tokens signed before sessions had one. */
  jti: string | null;
  expiresAt: Date;
}

export async function signSession(secret: string, accountId: string, ttlSeconds: number): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(accountId)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(new TextEncoder().encode(secret));
}

/**
 * Returns null for any invalid, expired or foreign token, and for one issued longer ago than a
 * session lives (`maxAgeSeconds`, JWT_TTL_SECONDS) whatever its `exp` says.
 */
export async function verifySession(
  secret: string,
  token: string,
  maxAgeSeconds: number,
): Promise<SessionClaims | null> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      issuer: ISSUER,
      algorithms: ['HS256'],
      // Every session this gateway signs expires; one without `exp`, or with one years away
      // (signed with a leaked secret, say), would outlive the secret's rotation.
      requiredClaims: ['exp', 'iat'],
    });
    if (!payload.sub) return null;
    // Checked here, not by jose's maxTokenAge, whose clock tolerance would stretch `exp` too: a
    // session signed by an api process on a host whose clock runs a little ahead of this one's is
    // not "issued in the future", and one ends at its `exp` all the same.
    const age = Math.floor(Date.now() / 1000) - payload.iat!;
    if (age > maxAgeSeconds || age < -CLOCK_SKEW_S) return null;
    return {
      accountId: payload.sub,
      jti: typeof payload.jti === 'string' ? payload.jti : null,
      expiresAt: new Date(payload.exp! * 1000),
    };
  } catch (err) {
    if (err instanceof errors.JOSEError) return null;
    throw err;
  }
}
