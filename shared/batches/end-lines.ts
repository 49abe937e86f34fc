import type { Context } from '../context.js';
import type { TxSql } from '../db/client.js';
import { endWaitingLines } from '../db/queries/batch-lines.js';
import { settleRequest } from '../inference/settle-request.js';
import type { Queues } from '../queues.js';

export type EndReason = 'expired' | 'cancelled';

/** The `error` of an expired or cancelled line, as OpenAI writes it in the error file. */
export const END_ERRORS: Record<EndReason, { code: string; message: string }> = {
  expired: {
    code: 'batch_expired',
    message: 'This request could not be executed before the completion window expired.',
  },
  cancelled: { code: 'batch_cancelled', message: 'This request was cancelled with its batch.' },
};

export type EndedLine = { id: string; hold_id: string | null };

/** Inside the caller's batch-locked transaction: end every line that has not started. */
export function endLines(tx: TxSql, batchId: string, reason: EndReason, at: Date): Promise<EndedLine[]> {
  return endWaitingLines(tx, batchId, reason, END_ERRORS[reason], at);
}

/**
 * After that transaction commits: a queued line never reaches a node (a message of its own is
 * removed; a worker meeting it in a group sees the status and skips it) and its hold is voided.
 */
export async function releaseLines(ctx: Context, queues: Queues, lines: EndedLine[]): Promise<void> {
  const held = lines.filter((l): l is { id: string; hold_id: string } => l.hold_id !== null);
  for (let i = 0; i < held.length; i += 50) {
    await Promise.all(
      held.slice(i, i + 50).map(async (l) => {
        await queues
          .get('inference')
          .remove(l.id)
          .catch(() => 0); // locked by a worker: it will skip the ended line
        await settleRequest(ctx, queues, l.hold_id, null);
      }),
    );
  }
}
