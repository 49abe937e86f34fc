import type { Context } from '../context.js';
import type { TokenUsage } from '../gonka/index.js';
import { GroupCommit } from '../group-commit.js';
import { settleHolds } from '../ledger/settle.js';
import { type Payload, type Queues, queuePayloads } from '../queues.js';

type SettlementPayload = Payload<'settlement'>;

const enqueuers = new WeakMap<Queues, GroupCommit<SettlementPayload>>();

/**
 * Settlement jobs of finished requests go to the queue in groups (one Redis round trip for all
 * that finished while the last one was in flight), each job under its hold id, so a retried
 * hand-off cannot enqueue the same hold twice.
 */
function enqueuerFor(queues: Queues): GroupCommit<SettlementPayload> {
  let e = enqueuers.get(queues);
  if (!e) {
    e = new GroupCommit(async (payloads) => {
      for (const p of payloads) queuePayloads.settlement.parse(p);
      await queues
        .get('settlement')
        .addBulk(payloads.map((data) => ({ name: 'settlement', data, opts: { jobId: data.holdId } })));
    });
    enqueuers.set(queues, e);
  }
  return e;
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
  const enqueuedAt = Date.now();
  const payload: SettlementPayload =
    usage === null
      ? { holdId, outcome: 'void', enqueuedAt }
      : {
          holdId,
          outcome: 'post',
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          enqueuedAt,
        };
  try {
    await enqueuerFor(queues).add(payload);
  } catch (err) {
    ctx.logger.warn({ err, holdId }, 'settlement enqueue failed; settling inline');
    try {
      const { enqueuedAt: _, ...item } = payload;
      await settleHolds(ctx, [item]);
    } catch (inner) {
      ctx.logger.error(
        { err: inner, holdId },
        'inline settlement failed; the hold stays open for the sweeper',
      );
    }
  }
}
