import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { isPostgresConnectionLoss } from '../db/connection-loss.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import { findHold, insertHold, type NewHold } from '../db/queries/holds.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { observeAdmission } from '../metrics/registry.js';
import { dayKey, isoDay, monthKey } from '../periods.js';
import { INSTANCE_ID } from '../redis/instance.js';
import { holdRecordTtlS } from './hold-record-ttl.js';
import {
  DAY_COUNTER_TTL_S,
  type KeyScriptReply,
  MONTH_COUNTER_TTL_S,
  runWithKeyState,
} from './load-state.js';
import { refusalError } from './refusals.js';

export interface AdmitInput {
  key: ChildKeyIdentity;
  /** Worst-case cost in nGNK (pricing.holdEstimate). */
  estimate: bigint;
  model: string;
  pricePerToken: bigint;
  markupBps: number;
  /** How long the hold may stay open before the stale-hold sweeper voids it. */
  holdTtlMs: number;
  requestId?: string;
  /**
   * How the hold is made durable when the caller owns that (sync chat's relaxed group commit, an
   * async job's hold and job row, or a batch line's, in one grouped statement); resolves once it
   * is recorded. If it throws, the admission is given back, unless the row is there after all or
   * Postgres cannot say (HoldWriteUnknown: the reservation stays).
   * @default insertHold, one durable statement
   */
  write?: (hold: NewHold) => Promise<void>;
  /**
   * Return once Redis has admitted, with the hold's write still in flight (`Admission.recorded`),
   * and leave a failed write to the caller: the reservation is kept, for a request the caller
   * serves anyway is billed from the hold's terms (settleServed), and `Admission.unadmit` gives it
   * back for one it does not serve. Sync chat calls the node meanwhile, so the Postgres round trip
   * is off the client's critical path. @default false
   */
  background?: boolean;
  /**
   * Whether the request counts against the key's RPM limit. A batch line does not (API.md: a line
   * is admitted against limits and balance): its pace is the batch's own (BATCH_LINES_IN_FLIGHT),
   * and counted, a 50,000-line batch on a key of 20 a minute could never finish in its window while
   * the key's real-time requests got 429s the whole run. @default true
   */
  countRpm?: boolean;
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  resetMs: number;
}

export interface Admission {
  hold: NewHold;
  rateLimit: RateLimitState | null;
  /**
   * Settles once the hold is recorded in Postgres (already settled unless `background`). If the
   * write failed it rejects; unless `background`, the Redis reservation has been given back (not
   * for HoldWriteUnknown, which keeps it).
   */
  recorded: Promise<void>;
  /**
   * Take the admission back in Redis (reservation and RPM slot), for a hold Postgres never recorded.
   * Idempotent; it changes nothing once the hold's record is gone (released, or never there).
   */
  unadmit(): Promise<void>;
  /**
   * Give back the RPM slot of a request admitted but refused for want of capacity (a 503
   * upstream_unavailable: giveBackRpmIfNoCapacity), so the gateway's own "retry shortly" costs a
   * client none of its quota, as a refusal does not. The reservation is the hold's to resolve. A
   * window rebuilt from Postgres counts the request again (its hold is there, voided): after a loss
   * the limit errs on its own side.
   */
  leaveRpmWindow(): Promise<void>;
}

/**
 * A hold's write failed and Postgres could not be asked whether it committed anyway: the admission
 * keeps its reservation (`unadmit` must not be called for it). `cause` is the write's error.
 */
export class HoldWriteUnknown extends Error {
  override name = 'HoldWriteUnknown';
  constructor(holdId: string, cause: unknown) {
    super(`the write of hold ${holdId} failed and whether it committed is unknown`, { cause });
  }
}

/**
 * The admission step (DESIGN.md "Admission"): key status and expiry, RPM, daily and monthly limits
 * and the owner's balance are checked and the reservation taken in one Lua call; then the hold is
 * made durable in Postgres. Throws the API.md refusal on any failed check.
 */
export async function admit(ctx: Context, input: AdmitInput): Promise<Admission> {
  const started = performance.now();
  const now = ctx.clock.now();
  const { key } = input;
  const hold: NewHold = {
    id: newId('hold'),
    requestId: input.requestId ?? newId('req'),
    accountId: key.account_id,
    childKeyId: key.id,
    amount: input.estimate,
    periodDay: isoDay(now),
    model: input.model,
    pricePerToken: input.pricePerToken,
    markupBps: input.markupBps,
    createdAt: now,
    deadline: new Date(now.getTime() + input.holdTtlMs),
  };
  const keys = [
    ctx.keys.childKey(key.account_id, key.id),
    ctx.keys.managementKey(key.account_id, key.management_key_id),
    ctx.keys.rpm(key.account_id, key.id),
    ctx.keys.day(key.account_id, key.id, dayKey(now)),
    ctx.keys.month(key.account_id, key.id, monthKey(now)),
    ctx.keys.balance(key.account_id),
    ctx.keys.hold(key.account_id, hold.id),
    ctx.keys.heldRecords(key.account_id),
    ctx.keys.balanceGeneration(key.account_id),
  ];
  const args = [
    now.getTime(),
    input.estimate.toString(),
    hold.id,
    DAY_COUNTER_TTL_S,
    MONTH_COUNTER_TTL_S,
    holdRecordTtlS(hold.deadline, now),
    key.id,
    hold.deadline.getTime(),
    dayKey(now),
    input.countRpm === false ? 0 : 1,
    key.secret ?? '',
    INSTANCE_ID,
  ];

  const taken = { accountId: key.account_id, keyId: key.id, holdId: hold.id, admittedAt: now };
  let reply: KeyScriptReply;
  try {
    reply = await runWithKeyState(ctx, 'admit', key, keys, args, now);
  } catch (err) {
    // No answer (Redis slower than REDIS_COMMAND_TIMEOUT_MS, or the connection lost after the call
    // went out): Redis may run it all the same, reserving for a request refused here (a 503), and
    // no hold would ever resolve that reservation but its record's expiry (hours, for a job).
    if (!(err instanceof ApiError)) takeBackOnceRedisAnswers(ctx, taken);
    throw err;
  }
  if (reply[0] !== 'ok') {
    const refusal = refusalError(reply, now);
    observeAdmission(refusal, started);
    throw refusal;
  }

  const [, rpm, remaining, resetMs] = reply as [string, number, number, number];
  const unadmit = async () => {
    await unadmitHold(ctx, taken);
  };
  const record = async () => {
    try {
      if (input.write) {
        await input.write(hold);
      } else {
        await insertHold(ctx.sql, hold);
      }
    } catch (err) {
      // A write can fail after its commit (the reply lost with the connection, or a group retried
      // row by row meeting its own rows): the hold is recorded after all, and it keeps its
      // reservation; giving that back would free the amount twice once the hold is settled.
      let found: boolean;
      try {
        found = await holdLanded(ctx, hold.id);
      } catch {
        // Postgres cannot say either (still out of reach): keep the reservation, the safe side. A
        // hold that did land is settled or voided by the stale-hold sweeper; one that did not is
        // given back with its record by release-orphans.ts: a minute after admission once this
        // process has no heartbeat, else past the hold's deadline plus HOLD_GRACE_SECONDS.
        throw new HoldWriteUnknown(hold.id, err);
      }
      if (found) return;
      // The reservation must not outlive a hold that was never recorded, nor its RPM slot (in the
      // background the caller decides: it may have served the request).
      if (!input.background) await unadmit().catch(() => {});
      throw err;
    }
  };
  const recorded = record();
  if (input.background)
    recorded.catch(() => {}); // the caller awaits it; never unhandled meanwhile
  else await recorded;
  observeAdmission(null, started);
  const leaveRpmWindow = async () => {
    if (rpm > 0) await ctx.redis.zrem(ctx.keys.rpm(key.account_id, key.id), hold.id);
  };
  return {
    hold,
    rateLimit: rpm > 0 ? { limit: rpm, remaining, resetMs } : null,
    recorded,
    unadmit,
    leaveRpmWindow,
  };
}

/** How long an unanswered admission is tried to be taken back, at most (then release-orphans does). */
const TAKE_BACK_FOR_MS = 10 * 60_000;

/**
 * Take back an admission whose answer never came, once Redis answers: its call, if Redis ran it,
 * went out before this one on the same connection, so it has run by then; if it never ran, this
 * finds no record and changes nothing. Tried again with backoff while Redis stays out of reach.
 */
function takeBackOnceRedisAnswers(ctx: Context, h: Parameters<typeof unadmitHold>[1]): void {
  const started = Date.now();
  let waitMs = 500;
  const attempt = () => {
    unadmitHold(ctx, h).then(
      (found) => {
        if (found)
          ctx.logger.warn(
            { holdId: h.holdId },
            'gave back the reservation of an admission whose answer was lost',
          );
      },
      () => {
        if (Date.now() - started > TAKE_BACK_FOR_MS) return; // Redis still out: release-orphans' turn
        waitMs = Math.min(waitMs * 2, 30_000);
        setTimeout(attempt, waitMs).unref();
      },
    );
  };
  attempt();
}

/**
 * Take an admission back in Redis (unadmit-9.lua): its hold record goes, its reservation returns to
 * the day and month counters of when it was admitted and to the balance, and it leaves the RPM
 * window. Idempotent: true only for the call that found the record.
 */
export async function unadmitHold(
  ctx: Context,
  h: { accountId: string; keyId: string; holdId: string; admittedAt: Date },
): Promise<boolean> {
  const k = ctx.keys;
  const done = await ctx.scripts.run(
    'unadmit',
    [
      k.hold(h.accountId, h.holdId),
      k.day(h.accountId, h.keyId, dayKey(h.admittedAt)),
      k.month(h.accountId, h.keyId, monthKey(h.admittedAt)),
      k.balance(h.accountId),
      k.rpm(h.accountId, h.keyId),
      k.heldRecords(h.accountId),
      k.loadEpoch(h.accountId),
      k.childKey(h.accountId, h.keyId),
      k.balanceGeneration(h.accountId),
    ],
    [h.holdId],
  );
  return Number(done) === 1;
}

/**
 * Whether a hold whose write failed is in Postgres. Asked up to three times over about 3 s: a write
 * whose connection was cut (a failover, pg_terminate_backend) fails with it, and the first lookup
 * often meets the same emptied pool; one a moment later can tell, and a hold known not to be there
 * gives its reservation back now rather than past its deadline (6 h for a job).
 */
async function holdLanded(ctx: Context, holdId: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await findHold(ctx.sql, holdId)) !== null;
    } catch (err) {
      if (attempt >= 3 || !isPostgresConnectionLoss(err)) throw err;
      await sleep(1000 * attempt);
    }
  }
}
