import { createHash } from 'node:crypto';
import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { ApiError } from '../errors.js';

/** How long a key names its job: a client retries within minutes, not days. */
const REMEMBER_S = 24 * 3600;
/** How long a submission may hold its key before its job exists (a crash frees it after this). */
const CLAIM_S = 60;
const PENDING = 'pending';
const MAX_LENGTH = 255;

/** `Idempotency-Key` as sent (null when absent); a 400 when it is empty or too long. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  const v = Array.isArray(header) ? header[0] : header;
  if (!v || v.length > MAX_LENGTH)
    throw ApiError.invalid('Idempotency-Key', `Idempotency-Key must be 1 to ${MAX_LENGTH} characters`);
  return v;
}

export type IdempotentSubmission =
  | { replay: string }
  | { record(jobId: string): Promise<void>; release(): Promise<void> };

/**
 * Claim `given` for one job submission of the key's management key (its jobs are visible to all
 * its child keys, so its keys are shared the same way). The first submission claims it and records
 * its job once made (or gives the key up when refused, so a retry may succeed); any later one
 * with the same key gets that job (`replay`) instead of a second job and a second charge, or a 409
 * while the first is still being admitted. Kept in Redis for a day: a Redis that lost its data
 * forgets them (README).
 */
export async function claimSubmission(
  ctx: Context,
  key: ChildKeyIdentity,
  given: string,
): Promise<IdempotentSubmission> {
  const hash = createHash('sha256').update(given).digest('hex');
  const name = ctx.keys.idempotency(key.account_id, key.management_key_id, hash);
  if ((await ctx.redis.set(name, PENDING, 'EX', CLAIM_S, 'NX')) === 'OK') {
    return {
      record: async (jobId) => {
        await ctx.redis.set(name, jobId, 'EX', REMEMBER_S);
      },
      release: async () => {
        await ctx.redis.del(name);
      },
    };
  }
  const jobId = await ctx.redis.get(name);
  if (jobId === null || jobId === PENDING)
    throw new ApiError(
      'conflict',
      'A request with this Idempotency-Key is still being processed; retry shortly',
      {
        param: 'Idempotency-Key',
      },
    );
  return { replay: jobId };
}
