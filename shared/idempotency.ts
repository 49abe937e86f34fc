import { createHash, randomBytes } from 'node:crypto';
import type { Context } from './context.js';
import type { Db } from './db/client.js';
import type { ChildKeyIdentity } from './db/queries/admission-state.js';
import { ApiError } from './errors.js';
import { newId } from './ids.js';
import { visibleToKey } from './jobs/visibility.js';

/** How long a key names what it made: a client retries within minutes, not days. */
const REMEMBER_S = 24 * 3600;
/** A claim whose job or batch still does not exist after this long belongs to a submission that died. */
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

/** What an Idempotency-Key can make: a job (POST /v1/jobs) or a batch (POST /v1/batches). */
export interface Submission<T extends Made> {
  /** Its id's prefix; also keeps a job's keys and a batch's apart. */
  kind: 'job' | 'batch';
  find(db: Db, id: string): Promise<T | null>;
  /** For the 404 of one this key may not see. */
  noun: string;
}
interface Made {
  created_at: Date;
  management_key_id: string | null;
}

export type IdempotentSubmission<T> =
  | { replay: T }
  | {
      /** The id it must be made with. */
      id: string;
      /** Give the key up: the submission was refused, nothing made, so a retry may succeed. */
      release(): Promise<void>;
      /**
       * Leave the key to the next retry at once: the submission failed (a 503) with its row
       * perhaps written. The retry finds that row, or makes it under the same id (so of two
       * writes one is refused: MadeElsewhere), instead of being told for a minute to wait for a
       * submission that has already answered.
       */
      abandon(): Promise<void>;
    };

/**
 * Another submission under the same Idempotency-Key (one whose claim this one took over, only
 * slow) wrote the row first; nothing of this one was kept.
 */
export class MadeElsewhere extends Error {
  constructor(readonly id: string) {
    super(`${id} was written by another submission`);
  }
}

/**
 * The 409 for a submission whose Idempotency-Key is still being worked on: the client retries.
 * `x-should-retry` is what OpenAI's SDKs obey over their own rule for a status (which retries 409s).
 */
export const inProgress = () =>
  new ApiError(
    'conflict',
    'A request with this Idempotency-Key is still being processed; retry shortly',
    { param: 'Idempotency-Key' },
    { 'retry-after': '1', 'x-should-retry': 'true' },
  );

/**
 * Claim `given` for one submission of the key's management key (its jobs and batches are visible
 * to all its child keys, so its keys are shared the same way). The claim names the new row's id
 * before it is made, so a retry finds it even when the first submission's process died after
 * writing it, before answering: it gets that row (`replay`) instead of a second job or batch and a
 * second charge. While the first is still being made a retry gets a 409; a claim whose row never
 * appeared (its submission died first, or is stalled) is taken over after a minute, for the same
 * id. Kept in Redis for a day; a Redis that lost its data forgets the claims, but not the rows:
 * the row's id is the key's (idOf), so a new claim looks for it in Postgres first (after a loss,
 * a key reused for a different request gets its row, not the 409 it would get from Redis).
 */
export async function claimSubmission<T extends Made>(
  ctx: Context,
  key: ChildKeyIdentity,
  what: Submission<T>,
  given: string,
  /** The request, as sent: a key reused for another request is refused, not answered with its row. */
  request: unknown = null,
): Promise<IdempotentSubmission<T>> {
  const hash = createHash('sha256').update(given).digest('hex');
  const name = ctx.keys.idempotency(key.account_id, key.management_key_id, what.kind, hash);
  let id = idOf(what.kind, key.management_key_id, hash);
  const fingerprint = sha(canonicalJson(request));
  let mine = `${id}:${ctx.clock.now().getTime()}:${fingerprint}`;
  let replaces = '';
  /** This submission holds the claim: it makes row `id`, or gives the claim back. */
  const held = (id: string, claim: string): IdempotentSubmission<T> => ({
    id,
    release: async () => {
      await ctx.scripts.run('unclaim', [name], [claim]);
    },
    abandon: async () => {
      // The claim, dated 0: dead to the next claim, which takes it over (if still this one's).
      await ctx.scripts.run('claim', [name], [`${id}:0:${fingerprint}`, claim, REMEMBER_S]);
    },
  });
  /** What the key made answers this submission, if this key may see it. */
  const replay = (made: T): IdempotentSubmission<T> => {
    if (!visibleToKey(made, key)) throw ApiError.notFound(what.noun);
    return { replay: made };
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    const [claimed, holder] = (await ctx.scripts.run('claim', [name], [mine, replaces, REMEMBER_S])) as [
      number,
      string,
    ];
    if (claimed === 1) {
      if (replaces !== '') return held(id, mine); // taken over: find(id) just found none
      // A new claim: the key's first use, its first in a day, or Redis lost the claim. The row
      // the key made (its id is the key's) answers the last, with the claim naming it again.
      const made = await what.find(ctx.sql, id);
      if (!made) return held(id, mine);
      if (ctx.clock.now().getTime() - made.created_at.getTime() < REMEMBER_S * 1000) return replay(made);
      // Reused after its day, like a key never seen: a new row, under a new id.
      id = newId(what.kind);
      replaces = mine;
      mine = `${id}:${ctx.clock.now().getTime()}:${fingerprint}`;
      continue;
    }
    const [heldBy, since, print] = holder.split(':') as [string, string, string | undefined];
    // (A claim made before fingerprints were canonical holds the body's print as sent.)
    if (print !== undefined && print !== fingerprint && print !== sha(JSON.stringify(request)))
      // Final: the SDKs' default retries of a 409 would get this answer again, seconds later.
      throw new ApiError(
        'conflict',
        'This Idempotency-Key was used with a different request',
        { param: 'Idempotency-Key' },
        { 'x-should-retry': 'false' },
      );
    const made = await what.find(ctx.sql, heldBy);
    if (made) return replay(made);
    if (ctx.clock.now().getTime() - Number(since) < DEAD_AFTER_MS) throw inProgress();
    replaces = holder;
    // Taken over under the same id: were the first submission only slow, not dead, its row and
    // this one's are one; whichever writes second is refused (MadeElsewhere).
    // A nonce: two retries taking over in the same millisecond must not both hold the claim.
    id = heldBy;
    mine = `${id}:${ctx.clock.now().getTime()}:${fingerprint}:${randomBytes(6).toString('hex')}`;
  }
  throw inProgress();
}

/**
 * The row an Idempotency-Key makes, named by the key (its management key's and its hash), so the
 * key finds its row in Postgres when Redis has lost the claim: a retry after a Redis restart is
 * answered with that job or batch instead of making and charging a second. The 16 bytes are of a
 * hash only its owner's key can give: the id is as opaque as a random one (and grants nothing by
 * itself).
 */
function idOf(kind: Submission<Made>['kind'], managementKeyId: string, keyHash: string): string {
  const bytes = createHash('sha256').update(`${kind}:${managementKeyId}:${keyHash}`).digest().subarray(0, 16);
  return `${kind}_${bytes.toString('base64url')}`;
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
