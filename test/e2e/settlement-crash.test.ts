import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { startWorkers } from '../../workers/index.js';
import { createCustomer } from '../helpers/customer.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { spawnWorkerProcess, stopProcess } from '../helpers/worker-process.js';

/**
 * A workers process killed mid-settlement: its settlement job is handed to another worker once its
 * lock (SETTLEMENT_LOCK_MS) lapses, not after BullMQ's 30 s lock and 30 s stalled check, a minute
 * in which a Redis without persistence that restarted would lose the job (crash audit).
 */
const LOCK_MS = '1500';
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ workers: false, env: { SETTLEMENT_LOCK_MS: LOCK_MS } });
});
afterAll(async () => {
  await stack?.close();
});

describe('settlement through a workers crash', () => {
  it('settles the requests of a settlement job whose worker died mid-transaction', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    await c.openai.chat.completions.create({
      model: SIM_MODEL_QWQ_32B,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8,
    });
    const queue = stack.deps.queues.get('settlement');
    await waitFor('settlement queued', async () => (await queue.getWaitingCount()) === 1);

    // The account's balance row held by another transaction: the worker's settlement waits on it.
    const blocker = await ctx.sql.reserve();
    const child = spawnWorkerProcess(stack.env, stack.sim.urls, { SETTLEMENT_LOCK_MS: LOCK_MS });
    try {
      await blocker`begin`;
      await blocker`select id from ledger_accounts where id = ${c.accountId} for update`;
      await waitFor('settlement taken', async () => (await queue.getActiveCount()) === 1, 30_000);
      await stopProcess(child, 'SIGKILL');
    } finally {
      await blocker`rollback`;
      blocker.release();
      await stopProcess(child, 'SIGKILL');
    }

    const stop = startWorkers(ctx, stack.deps);
    try {
      // Well before BullMQ's own minute: the test's default wait is 15 s.
      const [hold] = await waitFor('hold posted', async () => {
        const rows = await ctx.sql<{ status: string; posted_amount: bigint | null }[]>`
          select status, posted_amount from holds where account_id = ${c.accountId}`;
        return rows[0]?.status === 'posted' ? rows : null;
      });
      expect(hold?.posted_amount).toBeGreaterThan(0n);
    } finally {
      await stop();
    }
  });
});
