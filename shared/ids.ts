import { randomBytes } from 'node:crypto';

export type IdPrefix =
  | 'acct'
  | 'mk'
  | 'ck'
  | 'job'
  | 'batch'
  | 'file'
  | 'whe'
  | 'whd'
  | 'hold'
  | 'req'
  | 'chatcmpl';

/**
 * Opaque ids with a type prefix (API.md). 16 random bytes: unguessable, so an id alone never
 * grants access, and collision-free without a round trip.
 */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}
