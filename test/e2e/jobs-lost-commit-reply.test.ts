import { describe, expect, it } from 'vitest';
import { defaultSimPrice, SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { priceTokens } from '../../shared/pricing.js';
import { startWorkers } from '../../workers/index.js';
import { queuedJob } from '../helpers/jobs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A job's run committed its answer (succeeded, with the node's usage) and then lost the commit's
 * reply (a cut connection) or died, before it handed the hold to settlement. Its message runs
 * again and finds the job finished: it must bill the recorded usage then, not leave the whole
 * hold reserved until the stale-hold sweeper comes (HOLD_GRACE_SECONDS, minutes) (money17).
 */
const stack = useTestStack({ workers: false });

describe('a finished job whose run never settled it', () => {
  it('is billed its recorded usage by the next run of its message', async () => {
    const { c, jobId } = await queuedJob(stack);
    const usage = { prompt_tokens: 2, completion_tokens: 8, total_tokens: 10 };
    // What the first run committed before its reply was lost: the job's end, its hold still open.
    await stack.env.ctx.sql`
      update jobs set status = 'succeeded', usage = ${stack.env.ctx.sql.json(usage)}, completed_at = now()
      where id = ${jobId}`;
    const stop = startWorkers(stack.env.ctx, stack.deps);
    try {
      const hold = await waitFor('the hold settled', async () => {
        const [h] = await stack.env.ctx.sql<{ status: string; posted_amount: bigint | null }[]>`
          select h.status, h.posted_amount from holds h join jobs j on j.hold_id = h.id where j.id = ${jobId}`;
        return h?.status === 'open' ? null : h;
      });
      expect(hold).toEqual({
        status: 'posted',
        posted_amount: priceTokens(10n, defaultSimPrice(SIM_MODEL_QWQ_32B), 12000),
      });
      const [account] = await stack.env.ctx.sql<{ n: number }[]>`
        select count(*)::int as n from holds where account_id = ${c.accountId} and status = 'open'`;
      expect(account!.n).toBe(0);
    } finally {
      await stop();
    }
  });
});
