import { type Admission, HoldWriteUnknown } from '../admission/admit.js';
import { drainHoldWriter } from '../admission/hold-writer.js';
import { Batcher } from '../batcher.js';
import type { Context } from '../context.js';
import type { Sql } from '../db/client.js';
import type { NewHold } from '../db/queries/holds.js';
import { ApiError } from '../errors.js';
import type { TokenUsage } from '../gonka/index.js';
import { toHoldTerms } from '../ledger/hold-terms.js';
import { type Settlement, settleHolds } from '../ledger/settle.js';
import { perOwner } from '../per-owner.js';
import type { Queues } from '../queues.js';

/**
 * Finished requests go to the settlement queue in groups, one BullMQ job per group: those that
 * finish within `waitMs` of each other, or while the last hand-off was in flight (see Batcher). No
 * client waits on this, and settlement books a group in one transaction, so the queue's own cost is
 * paid per group, not per request. Settlement is idempotent per hold, so a group handed off twice
 * still books each hold once. One per producer process (its Queues) and hand-off wait: sync chat's
 * and everything else's.
 */
const enqueuers = perOwner<Queues, number, Batcher<Settlement, undefined>>();

function newEnqueuer(queues: Queues, waitMs: number): Batcher<Settlement, undefined> {
  return new Batcher<Settlement, undefined>(
    async (items) => {
      await queues.add('settlement', { items, enqueuedAt: Date.now() });
      return items.map(() => undefined);
    },
    500,
    waitMs,
  );
}

/**
 * Hand off the requests still waiting for company (shutdown: after the api stops serving and the
 * workers stop running jobs, before the queues close and Postgres does), so none waits for the
 * stale-hold sweeper. Sync holds still waiting for their insert go first: a sync request is handed
 * off once its hold's write is done (settleServed).
 */
export async function flushSettlementHandoff(sql: Sql, queues: Queues): Promise<void> {
  await drainHoldWriter(sql);
  // Their requests reach the hand-off a few promise steps after the write: let those run.
  await new Promise((resolve) => setImmediate(resolve));
  await Promise.all(enqueuers.all(queues).map((e) => e.drain()));
}

/**
 * Settle here, in Postgres, the requests whose hand-off to the queue has not ended: at shutdown,
 * once Redis did not take them in time (an outage). Left to the queue they went with the process,
 * and the sweeper voided their holds at the deadline: served, never billed (ops31). Their release
 * in Redis, which fails while it is out of reach, is finished by the scheduler's check once it is
 * back (the path of a worker killed after its commit). Returns how many it settled.
 */
export async function settleUnhanded(ctx: Context, queues: Queues): Promise<number> {
  const items = enqueuers.all(queues).flatMap((e) => e.pending());
  if (items.length === 0) return 0;
  try {
    await settleHolds(ctx, items);
  } catch (err) {
    // After the commit (the Redis steps): they are billed. Before it: the sweeper voids them.
    ctx.logger.error(
      { err, holdIds: items.map((i) => i.holdId) },
      'settling the requests Redis did not take failed or was cut short; the scheduler’s check finishes them',
    );
  }
  return items.length;
}

/**
 * Hand a finished request to settlement: post its usage, or void the hold when nothing was served.
 * If the queue cannot take it (Redis down), settle inline rather than leave the hold open; if that
 * fails too, the stale-hold sweeper and reconciliation still resolve it.
 */
export async function settleRequest(
  ctx: Context,
  queues: Queues,
  holdId: string,
  usage: TokenUsage | null,
  opts: {
    /** A served request's hold that Postgres never recorded: settlement writes it from these terms. */
    unrecorded?: NewHold;
    /**
     * How long it waits for company. @default SETTLEMENT_GROUP_WAIT_MS; sync chat's is
     * SETTLEMENT_HANDOFF_WAIT_MS (settleServed)
     */
    waitMs?: number;
  } = {},
): Promise<void> {
  const item = settlementOf(holdId, usage, opts.unrecorded);
  try {
    const waitMs = opts.waitMs ?? ctx.config.SETTLEMENT_GROUP_WAIT_MS;
    await enqueuers.get(queues, waitMs, () => newEnqueuer(queues, waitMs)).add(item);
  } catch (err) {
    ctx.logger.warn({ err, holdId }, 'settlement enqueue failed; settling inline');
    try {
      await settleHolds(ctx, [item]);
    } catch (inner) {
      ctx.logger.error(
        { err: inner, holdId },
        'inline settlement failed; the hold stays open for the sweeper',
      );
    }
  }
}

/** A finished request as settlement takes it: its usage to post, or (none served) a void. */
function settlementOf(holdId: string, usage: TokenUsage | null, unrecorded?: NewHold): Settlement {
  if (usage === null) return { holdId, outcome: 'void' };
  return {
    holdId,
    outcome: 'post',
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    ...(unrecorded ? { unrecorded: toHoldTerms(unrecorded) } : {}),
  };
}

/**
 * Settle one request in this call rather than in a group, for the rare caller that must know it is
 * done (a cancel the client waits on, a cancelled job that shows its bill, written in the same
 * transaction: `inTransaction`). If that fails, it goes to the queue as settleRequest sends it.
 */
export async function settleRequestNow(
  ctx: Context,
  queues: Queues,
  holdId: string,
  usage: TokenUsage | null,
  opts: Parameters<typeof settleHolds>[2] = {},
): Promise<void> {
  try {
    await settleHolds(ctx, [settlementOf(holdId, usage)], opts);
  } catch (err) {
    ctx.logger.warn({ err, holdId }, 'settling inline failed; queueing it');
    await settleRequest(ctx, queues, holdId, usage);
  }
}

/**
 * Settle a request admitted with its hold written in the background (sync chat answers without
 * waiting for that write), once the write's outcome is known. Served: post its usage, and if the
 * write failed hand settlement the hold's terms so it is written and billed all the same. Nothing
 * served (`usage` null): void the hold, or, if it was never recorded, take the admission back.
 */
export function settleServed(
  ctx: Context,
  queues: Queues,
  admission: Pick<Admission, 'hold' | 'recorded' | 'unadmit'>,
  usage: TokenUsage | null,
): Promise<void> {
  const { hold } = admission;
  const waitMs = ctx.config.SETTLEMENT_HANDOFF_WAIT_MS;
  return admission.recorded.then(
    () => settleRequest(ctx, queues, hold.id, usage, { waitMs }),
    (err: unknown) => {
      if (usage === null) {
        // Maybe recorded after all: the reservation stays until the hold or its record is resolved.
        if (err instanceof HoldWriteUnknown) return logKept(ctx, hold.id, err);
        return admission.unadmit().catch((e: unknown) => logUnadmitFailed(ctx, hold.id, e));
      }
      ctx.logger.warn({ err, holdId: hold.id }, 'hold not recorded at admission; settlement writes it');
      return settleRequest(ctx, queues, hold.id, usage, { unrecorded: hold, waitMs });
    },
  );
}

function logKept(ctx: Context, holdId: string, err: HoldWriteUnknown): void {
  ctx.logger.warn({ err, holdId }, 'hold write outcome unknown; its reservation is kept until it resolves');
}

function logUnadmitFailed(ctx: Context, holdId: string, err: unknown): void {
  ctx.logger.error({ err, holdId }, 'could not take back an unrecorded admission; reconcile --fix will');
}

/**
 * A sync chat refused because no node had capacity (503 upstream_unavailable, which tells the
 * client to retry in a second) gives back its RPM slot: the openai client's own retries of it
 * would otherwise spend the key's quota into a 429 for a minute. Other failures keep theirs, as
 * API.md has it (only 402 and 429 consume none): a 502 made its node calls, a node's refusal was
 * an answer. Never throws; says whether it gives the slot back (for the answer's RPM headers).
 */
export function giveBackRpmIfNoCapacity(
  ctx: Context,
  admission: Pick<Admission, 'hold' | 'leaveRpmWindow'>,
  refusal: unknown,
): boolean {
  if (!(refusal instanceof ApiError) || refusal.type !== 'upstream_unavailable') return false;
  admission.leaveRpmWindow().catch((err: unknown) => {
    ctx.logger.warn(
      { err, holdId: admission.hold.id },
      'could not give back the RPM slot of a request not served',
    );
  });
  return true;
}
