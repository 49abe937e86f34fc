import { holdRecordTtlS } from '../admission/hold-record-ttl.js';
import type { Context } from '../context.js';
import type { OpenHoldRecord } from '../db/queries/admission-state.js';
import { type LoadOutcome, loadOutcome } from '../redis/load-epoch.js';

/** How long a credit's marker lives: every send of the credit happens within it. */
const MARKER_TTL_S = 3600;

/**
 * A credit is sent to Redis right after it commits, and may be sent again (a top-up replayed, a
 * settlement retried after its commit: the first send may have failed) only this long after, well
 * inside its marker's life. Whatever counted it meanwhile marked it: its own send, or a load of
 * the balance from Postgres (loadRedisBalance), or a reconciliation repair. So a late send or a
 * resend adds it once at most. Later, a credit lost that way leaves the balance in Redis tight
 * (never loose) until `npm run reconcile -- --fix`.
 */
export const CREDIT_RESEND_MS = 50 * 60_000;

/** A load or repair of the balance marks the credits committed this recently: any may still be sent. */
export const CREDIT_MARK_MS = MARKER_TTL_S * 1000;

/** The id a credit's marker is named by: its transfer's kind and ref. */
export const creditIdOf = (kind: 'topup' | 'referral', ref: string): string => `${kind}:${ref}`;

/** The marker keys of an account's credits, as a load or repair sets them (MARKER_TTL_S). */
export function creditMarkers(
  ctx: Context,
  accountId: string,
  creditIds: readonly string[],
): { keys: string[]; ttlS: number } {
  return { keys: creditIds.map((id) => ctx.keys.credit(accountId, id)), ttlS: MARKER_TTL_S };
}

/**
 * Put an account's available balance, as read from Postgres, into Redis unless Redis has one, and
 * mark `creditIds`, the recent credits that read counted (load-balance-n.lua). `epoch`: the
 * account's load epoch as read before that Postgres read (readLoadEpoch). Returns 'stale', writing
 * nothing, when a credit or a release found no balance since: the read may not include it, so the
 * caller reads Postgres again. Written, with the epoch the write moved to (load-balance-n.lua).
 */
export async function loadRedisBalance(
  ctx: Context,
  accountId: string,
  available: bigint,
  read: {
    creditIds: readonly string[];
    epoch: string;
    /** The open holds `available` counts: their records are written with it (load-balance-n.lua). */
    openHolds?: readonly OpenHoldRecord[];
    /** Records of holds the read saw resolved, marked as counted by it (held-records.ts). */
    settledHolds?: readonly string[];
  },
): Promise<{ outcome: LoadOutcome; epoch: string | null }> {
  const { openHolds = [], settledHolds = [] } = read;
  const markers = creditMarkers(ctx, accountId, read.creditIds);
  const nowMs = ctx.clock.now().getTime();
  const done = await ctx.scripts.run(
    'loadBalance',
    [
      ctx.keys.balance(accountId),
      ctx.keys.loadEpoch(accountId),
      ctx.keys.heldRecords(accountId),
      ctx.keys.balanceGeneration(accountId),
      ...markers.keys,
      ...openHolds.map((h) => ctx.keys.hold(accountId, h.id)),
      ...settledHolds.map((id) => ctx.keys.hold(accountId, id)),
    ],
    [
      available.toString(),
      markers.ttlS,
      read.epoch,
      markers.keys.length,
      openHolds.length,
      ...openHolds.flatMap((h) => [
        h.id,
        h.amount,
        h.key,
        h.at,
        h.dl,
        holdRecordTtlS(new Date(h.dl), new Date(nowMs)),
      ]),
    ],
  );
  if (Array.isArray(done)) return { outcome: 'loaded', epoch: String(done[1]) };
  return { outcome: loadOutcome(done), epoch: null };
}

/** Whether a credit committed at `at` may still be sent again (CREDIT_RESEND_MS). */
export const mayResendCredit = (at: Date, now: Date): boolean =>
  now.getTime() - at.getTime() < CREDIT_RESEND_MS;

/**
 * After a credit committed in Postgres (a top-up, a referral payout), add it to the account's
 * available balance in Redis, once: `creditId` names it, so a resend of the command changes
 * nothing (credit-balance-3.lua). A no-op when Redis has not loaded the account, whose next load
 * then includes the credit. `resend`: the credit was sent before, or may have been (a replayed
 * top-up, a retried settlement): without its marker, the balance is reloaded rather than added to.
 */
export async function creditRedisBalance(
  ctx: Context,
  accountId: string,
  amount: bigint,
  creditId: string,
  opts: { resend: boolean },
): Promise<void> {
  await ctx.scripts.run(
    'creditBalance',
    [ctx.keys.balance(accountId), ctx.keys.credit(accountId, creditId), ctx.keys.loadEpoch(accountId)],
    [amount.toString(), MARKER_TTL_S, opts.resend ? 1 : 0],
  );
}
