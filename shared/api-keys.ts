import { createHash, randomBytes } from 'node:crypto';

export type KeyKind = 'gm' | 'gc';

export interface GeneratedKey {
  /** The full secret, shown to the owner once and never stored. */
  plain: string;
  hash: Buffer;
  /** What lists show: the first 6 and last 4 characters. */
  prefix: string;
}

/** `gm-`/`gc-` followed by 32 random bytes (base64url). */
export function generateApiKey(kind: KeyKind): GeneratedKey {
  const plain = `${kind}-${randomBytes(32).toString('base64url')}`;
  return { plain, hash: hashApiKey(plain), prefix: displayPrefix(plain) };
}

export function hashApiKey(plain: string): Buffer {
  return createHash('sha256').update(plain).digest();
}

/**
 * What admission's Redis state keeps of a child key's secret, to tell its current secret from one a
 * rotation replaced (key-checks.lua): the first 16 bytes of its SHA-256, in hex. It only ever tells
 * apart the secrets of one key, so a shortened hash is plenty.
 */
export function secretFingerprint(hash: Buffer): string {
  return hash.subarray(0, 16).toString('hex');
}

function displayPrefix(plain: string): string {
  return `${plain.slice(0, 6)}…${plain.slice(-4)}`;
}

export function keyKindOf(token: string): KeyKind | null {
  if (token.startsWith('gm-')) return 'gm';
  if (token.startsWith('gc-')) return 'gc';
  return null;
}
