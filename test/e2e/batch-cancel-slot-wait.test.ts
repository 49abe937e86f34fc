import { describe, expect, it } from 'vitest';
import { dispatchBatch } from '../../shared/batches/dispatch.js';
import { startWorkers } from '../../workers/index.js';
import { startBatch } from '../helpers/batches.js';
import { expectNoLedgerDrift, settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A batch's lines can travel to the workers in one message and wait there for a node slot. A cancel
 * leaves the lines of messages in a worker's hands to finish (their calls may be under way), so a
 * line may reach its slot after its batch began cancelling: it must then not call a node, but end
 * cancelled with its hold voided. No workers at first, so the test can put lines in that state.
 */
const stack = useTestStack({ workers: false });

describe('a batch line that reaches its node slot after its batch began cancelling', () => {
  it('is cancelled without a node call, its hold voided, and the batch ends', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    const id = await startBatch(stack.server.url, c.childKey, 3);
    await dispatchBatch(ctx, stack.deps, id); // what the batches worker does: admit and queue them
    await waitFor('its lines queued', async () => {
      const [r] = await ctx.sql<{ n: number }[]>`
        select count(*)::int as n from jobs where batch_id = ${id} and status = 'queued'`;
      return r?.n === 3;
    });
    // What a cancel leaves when the lines' message was in a worker's hands: the batch cancelling,
    // the lines still queued with their holds.
    await ctx.sql`update batches set status = 'cancelling', cancelling_at = now() where id = ${id}`;
    const served = () => stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0);
    const before = served();

    const stop = startWorkers(ctx, stack.deps);
    try {
      const batch = await waitFor('the batch cancelled', async () => {
        const b = (await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: c.childKey })).body;
        return b.status === 'cancelled' ? b : null;
      });
      expect(batch.request_counts).toMatchObject({ total: 3, completed: 0 });
      const holds = await settled(ctx, c.accountId);
      expect(holds.map((h) => h.status)).toEqual(['voided', 'voided', 'voided']);
    } finally {
      await stop();
    }
    expect(served()).toBe(before);
    await expectNoLedgerDrift(ctx);
  });
});
