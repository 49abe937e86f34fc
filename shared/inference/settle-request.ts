import { Batcher } from '../batcher.js';
import type { Context } from '../context.js';
import type { TokenUsage } from '../gonka/index.js';
import { type Settlement, settleHolds } from '../ledger/settle.js';
import type { Queues } from '../queues.js';

const enqueuers = new WeakMap<Queues, Batcher<Settlement, undefined>>();

/**
 * Finished requests go to the settlement queue in groups, one BullMQ job per group: those that
 * finish within SETTLEMENT_HANDOFF_WAIT_MS of each other, or while the last hand-off was in flight (see
 * Batcher). No client waits on this, and settlement books a group in one transaction, so the
 * queue's own cost is paid per group, not per request. Settlement is idempotent per hold, so a
 * group handed off twice still books each hold once.
 */
function enqueuerFor(queues: Queues, waitMs: number): Batcher<Settlement, undefined> {
  let e = enqueuers.get(queues);
  if (!e) {
    e = new Batcher<Settlement, undefined>(
      async (items) => {
        await queues.add('settlement', { items, enqueuedAt: Date.now() });
        return items.map(() => undefined);
      },
      500,
      waitMs,
    );
    enqueuers.set(queues, e);
  }
  return e;
}

/**
 * Hand off the requests still waiting for company (shutdown: after the api stops serving and the
 * workers stop running jobs, before the queues close), so none waits for the stale-hold sweeper.
 */
export async function flushSettlementHandoff(queues: Queues): Promise<void> {
  await enqueuers.get(queues)?.drain();
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
): Promise<void> {
  const item: Settlement =
    usage === null
      ? { holdId, outcome: 'void' }
      : {
          holdId,
          outcome: 'post',
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
        };
  try {
    await enqueuerFor(queues, ctx.config.SETTLEMENT_HANDOFF_WAIT_MS).add(item);
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

/**
 * Void the hold of a request the node never served, once its write (admit's `recorded`) landed. A
 * hold that was never recorded has already given its reservation back: nothing to settle.
 */
export function voidUnserved(
  ctx: Context,
  queues: Queues,
  holdId: string,
  recorded: Promise<void>,
): Promise<void> {
  return recorded.then(
    () => settleRequest(ctx, queues, holdId, null),
    () => {},
  );
}
