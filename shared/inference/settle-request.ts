import type { Context } from '../context.js';
import type { TokenUsage } from '../gonka/index.js';
import { settleHolds } from '../ledger/settle.js';
import type { Queues } from '../queues.js';

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
  const payload =
    usage === null
      ? { holdId, outcome: 'void' as const, enqueuedAt }
      : {
          holdId,
          outcome: 'post' as const,
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          enqueuedAt,
        };
  try {
    await queues.add('settlement', payload, { jobId: holdId });
  } catch (err) {
    ctx.logger.warn({ err, holdId }, 'settlement enqueue failed; settling inline');
    try {
      await settleHolds(ctx, [
        usage === null
          ? { holdId, outcome: 'void' }
          : {
              holdId,
              outcome: 'post',
              promptTokens: usage.prompt_tokens,
              completionTokens: usage.completion_tokens,
            },
      ]);
    } catch (inner) {
      ctx.logger.error(
        { err: inner, holdId },
        'inline settlement failed; the hold stays open for the sweeper',
      );
    }
  }
}
