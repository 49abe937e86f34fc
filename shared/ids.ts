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
  | 'chg'
  | 'chatcmpl';

/** Random bytes are drawn from the CSPRNG 4 KiB at a time: one syscall per 256 ids, not per id. */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

function random16(): Buffer {
  if (offset + 16 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  offset += 16;
  return pool.subarray(offset - 16, offset);
}

/**
 * Opaque ids with a type prefix (API.md). 16 random bytes: unguessable, so an id alone never
 * grants access, and collision-free without a round trip.
 */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${random16().toString('base64url')}`;
}
