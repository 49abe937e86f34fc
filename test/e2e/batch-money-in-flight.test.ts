import { describe, expect, it } from 'vitest';
import { startBatch } from '../helpers/batches.js';
import { expectNoLedgerDrift } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A batch's lines in flight hold money: a line refused for money while they do waits for them
 * (their holds may be what it lacks) instead of failing, so a batch whose lines the balance pays
 * for one after another runs them all, as a client sending them one by one would.
 */
const stack = useTestStack({ env: { BATCH_LINES_IN_FLIGHT: '8' } });
const SLOW = ' [[sim latency=300]]';

async function finished(key: string, id: string) {
  return waitFor(
    'the batch done',
    async () => {
      const b = (await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: key })).body;
      return b.status === 'completed' || b.status === 'failed' ? b : null;
    },
    30_000,
  );
}

describe('a batch whose lines the balance pays one after another', () => {
  it('runs every line, though its lines in flight together hold more than the balance', async () => {
    const { ctx } = stack.env;
    // One line first, to learn what a line holds and what it costs.
    const probe = await createCustomer(ctx, stack.server.url);
    const probeBatch = await startBatch(stack.server.url, probe.childKey, 1, SLOW);
    await finished(probe.childKey, probeBatch);
    const [one] = await ctx.sql<{ held: bigint; cost: bigint }[]>`
      select h.amount as held, j.cost_ngonka as cost from jobs j join holds h on h.id = j.hold_id
      where j.batch_id = ${probeBatch}`;
    const { held, cost } = one!;
    // Enough for eleven lines' costs and the last one's hold (and a line's cost to spare), far
    // less than eight lines' holds at once.
    const balance = 11n * cost + held + cost;
    expect(8n * held).toBeGreaterThan(balance);

    const c = await createCustomer(ctx, stack.server.url, { balance });
    const id = await startBatch(stack.server.url, c.childKey, 12, SLOW);
    const batch = await finished(c.childKey, id);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 12, completed: 12, failed: 0 });
    await expectNoLedgerDrift(ctx);
  });

  it('still fails the lines the balance cannot pay once nothing else of the batch is in flight', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url, { balance: 1n });
    const id = await startBatch(stack.server.url, c.childKey, 3);
    const batch = await finished(c.childKey, id);
    expect(batch.request_counts).toEqual({ total: 3, completed: 0, failed: 3 });
    expect(batch.metadata).toBeNull(); // none given: null, as OpenAI's batch object has it
  });
});
