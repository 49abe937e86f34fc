import { createHash, randomBytes } from 'node:crypto';
import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { findJob, type JobRow } from '../db/queries/jobs.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { visibleToKey } from './visibility.js';

/** How long a key names its job: a client retries within minutes, not days. */
const REMEMBER_S = 24 * 3600;
/** A claim whose job still does not exist after this long belongs to a submission that died. */
const DEAD_AFTER_MS = 60_000;
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
  | { replay: JobRow }
  | {
      /** The id the job must be made with. */
      jobId: string;
      /** Give the key up: the submission was refused, so a retry may succeed. */
      release(): Promise<void>;
    };

/** The 409 for a submission whose Idempotency-Key is still being worked on: the client retries. */
export const inProgress = () =>
  new ApiError('conflict', 'A request with this Idempotency-Key is still being processed; retry shortly', {
    param: 'Idempotency-Key',
  });

/**
 * Claim `given` for one job submission of the key's management key (its jobs are visible to all
 * its child keys, so its keys are shared the same way). The claim names the job's id before the job
 * is admitted, so a retry finds the job even when the first submission's process died after
 * writing it, before answering: it gets that job (`replay`) instead of a second job and a second
 * charge. While the first is still being admitted a retry gets a 409; a claim whose job never
 * appeared (its submission died first, or is stalled) is taken over after a minute, for the same
 * job id. Kept in Redis for a day; a Redis that lost its data forgets the claims, but not the jobs:
 * the job's id is the key's (jobIdOf), so a new claim looks for it in Postgres first (after a loss,
 * a key reused for a different request gets its job, not the 409 it would get from Redis).
 */
export async function claimSubmission(
  ctx: Context,
  key: ChildKeyIdentity,
  given: string,
  /** The request, as sent: a key reused for another request is refused, not answered with its job. */
  request: unknown = null,
): Promise<IdempotentSubmission> {
  const hash = createHash('sha256').update(given).digest('hex');
  const name = ctx.keys.idempotency(key.account_id, key.management_key_id, hash);
  let jobId = jobIdOf(key.management_key_id, hash);
  const fingerprint = sha(canonicalJson(request));
  let mine = `${jobId}:${ctx.clock.now().getTime()}:${fingerprint}`;
  let replaces = '';
  /** This submission holds the claim: it makes job `id`, or gives the claim back. */
  const held = (id: string, claim: string): IdempotentSubmission => ({
    jobId: id,
    release: async () => {
      await ctx.scripts.run('unclaim', [name], [claim]);
    },
  });
  /** The job the key made answers this submission, if this key may see it. */
  const replay = (job: JobRow): IdempotentSubmission => {
    if (!visibleToKey(job, key)) throw ApiError.notFound('Job');
    return { replay: job };
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    const [claimed, holder] = (await ctx.scripts.run('claim', [name], [mine, replaces, REMEMBER_S])) as [
      number,
      string,
    ];
    if (claimed === 1) {
      if (replaces !== '') return held(jobId, mine); // taken over: findJob(jobId) just found none
      // A new claim: the key's first use, its first in a day, or Redis lost the claim. The job
      // the key made (its id is the key's) answers the last, with the claim naming it again.
      const made = await findJob(ctx.sql, jobId);
      if (!made) return held(jobId, mine);
      if (ctx.clock.now().getTime() - made.created_at.getTime() < REMEMBER_S * 1000) return replay(made);
      // Reused after its day, like a key never seen: a new job, under a new id.
      jobId = newId('job');
      replaces = mine;
      mine = `${jobId}:${ctx.clock.now().getTime()}:${fingerprint}`;
      continue;
    }
    const [heldBy, since, print] = holder.split(':') as [string, string, string | undefined];
    // (A claim made before fingerprints were canonical holds the body's print as sent.)
    if (print !== undefined && print !== fingerprint && print !== sha(JSON.stringify(request)))
      throw new ApiError('conflict', 'This Idempotency-Key was used with a different request', {
        param: 'Idempotency-Key',
      });
    const job = await findJob(ctx.sql, heldBy);
    if (job) return replay(job);
    if (ctx.clock.now().getTime() - Number(since) < DEAD_AFTER_MS) throw inProgress();
    replaces = holder;
    // Taken over under the same job id: were the first submission only slow, not dead, its job
    // and this one are one row; whichever writes second is refused (submitJob's JobMadeElsewhere).
    // A nonce: two retries taking over in the same millisecond must not both hold the claim.
    jobId = heldBy;
    mine = `${jobId}:${ctx.clock.now().getTime()}:${fingerprint}:${randomBytes(6).toString('hex')}`;
  }
  throw inProgress();
}

/**
 * The job an Idempotency-Key makes, named by the key (its management key's and its hash), so the
 * key finds its job in Postgres when Redis has lost the claim: a retry after a Redis restart is
 * answered with that job instead of making and charging a second. The 16 bytes are of a hash only
 * its owner's key can give: the id is as opaque as a random one (and grants nothing by itself).
 */
function jobIdOf(managementKeyId: string, keyHash: string): string {
  const bytes = createHash('sha256').update(`job:${managementKeyId}:${keyHash}`).digest().subarray(0, 16);
  return `job_${bytes.toString('base64url')}`;
}

/** JSON with every object's keys sorted: the same request sent with its keys in another order is the same request. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

const sha = (text: string) => createHash('sha256').update(text).digest('base64url');
