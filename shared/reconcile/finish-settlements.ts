import type { Context } from '../context.js';
import { redoSettledInRedis } from '../ledger/settle.js';
import type { AccountIds } from './redis-state.js';

const CHUNK = 1000;

/**
 * Finish the Redis steps of settlements that committed without them: every hold record in `scope`
 * (what Redis has) whose hold Postgres has resolved is released at what it posted, and its recent
 * referral credits are sent, as the settlement's retry would (redoSettledInRedis). Each record is
 * released once, by whichever comes first, so this is safe under live traffic. Returns how many
 * records it released.
 */
export async function finishSettlements(ctx: Context, scope: Map<string, AccountIds>): Promise<number> {
  const holdIds = [...scope.values()].flatMap((ids) => [...ids.holds]);
  let released = 0;
  for (let i = 0; i < holdIds.length; i += CHUNK)
    released += await redoSettledInRedis(ctx, holdIds.slice(i, i + CHUNK));
  if (released > 0)
    ctx.logger.info(
      { released },
      'reconcile: released holds whose settlement committed without its Redis release',
    );
  return released;
}
