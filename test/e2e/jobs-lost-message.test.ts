import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { reconcileCheck } from '../../shared/scheduler/tasks/reconcile-check.js';
import { startWorkers } from '../../workers/index.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { queuedJob, submitJob, waitForHandOff } from '../helpers/jobs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A job committed in Postgres whose inference message never reached Redis (the api died between the
 * two, or Redis lost it) is queued again by the periodic reconciliation check; one whose hand-off
 * failed is handed off again by the api. Either runs and bills once.
 */
const stack = useTestStack({ env: { RECONCILE_INFLIGHT_MS: '20' }, workers: false });

/**
 * With the workers running (and after `meanwhile`, say the scheduled check), the job succeeds, its
 * hold settles, and it is billed once.
 */
async function runsOnce(c: Customer, jobId: string, meanwhile: () => Promise<void> = async () => {}) {
  const { ctx } = stack.env;
  const stop = startWorkers(ctx, stack.deps);
  try {
    await meanwhile();
    await waitFor('job succeeded', async () => {
      const job = await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey });
      return job.body.status === 'succeeded';
    });
    await waitFor('its hold settled', async () => {
      const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
      return a.body.held_ngonka === '0';
    });
  } finally {
    await stop();
  }
  const [billed] = await ctx.sql<{ n: number }[]>`
    select count(*)::int as n from holds where request_id = ${jobId} and status = 'posted'`;
  expect(billed!.n).toBe(1);
}

/** The scheduled check reports the job's missing message, and queues it again. */
async function checkMends(): Promise<void> {
  const check = await reconcileCheck(stack.env.ctx, stack.deps.queues);
  expect(check).toMatchObject({ ok: false, drift: 1 });
}

describe('a job whose inference message is lost', () => {
  it('is queued again by the scheduled check, then runs and is billed once', async () => {
    const { ctx } = stack.env;
    const { c, jobId } = await queuedJob(stack);
    const inference = stack.deps.queues.get('inference');
    expect(await inference.getJobCountByTypes('wait')).toBe(1);
    await inference.drain(); // the message is gone; the job's row still says queued
    const [row] = await ctx.sql<{ status: string }[]>`select status from jobs where id = ${jobId}`;
    expect(row!.status).toBe('queued');

    await runsOnce(c, jobId, async () => {
      await checkMends();
      expect(await inference.getJobCountByTypes('wait', 'active', 'completed')).toBe(1);
    });
    expect(await ledgerDrift(ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
    expect((await reconcileCheck(ctx, stack.deps.queues)).ok).toBe(true);
  });

  it('answers 202 when the hand-off to the queue fails, and hands the job off again once it can', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    const inference = stack.deps.queues.get('inference');
    // BullMQ numbers each message with INCR on this key: a value that is no number makes every
    // add fail in Redis itself, as a hand-off to a Redis out of reach would.
    const idKey = inference.toKey('id');
    const lastId = await ctx.redis.get(idKey);
    await ctx.redis.set(idKey, 'not a number');
    let jobId: string;
    try {
      const res = await call(stack.server.url, 'POST', '/v1/jobs', {
        token: c.childKey,
        body: {
          request: {
            model: SIM_MODEL_QWQ_32B,
            messages: [{ role: 'user', content: 'later' }],
            max_tokens: 8,
          },
        },
      });
      expect(res.status).toBe(202);
      jobId = res.body.id as string;
      expect(res.body.status).toBe('queued');
      // Committed with its hold, and no message reached the queue.
      await new Promise((r) => setTimeout(r, 200));
      expect(await inference.getJobCountByTypes('wait', 'prioritized', 'active')).toBe(0);
    } finally {
      if (lastId === null) await ctx.redis.del(idKey);
      else await ctx.redis.set(idKey, lastId);
    }
    const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(account.body.held_ngonka).not.toBe('0');

    // Tried again a second later, with no check needed.
    await waitForHandOff(stack.deps.queues, [jobId]);
    await runsOnce(c, jobId);
    expect((await reconcileCheck(ctx, stack.deps.queues)).ok).toBe(true);
  });

  it('re-queues a lost backlog in groups, so it runs as wide as a normal one', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url, { balance: 10_000_000_000n });
    const ids = await Promise.all(
      Array.from({ length: 70 }, (_, i) =>
        submitJob(stack.server.url, c.childKey, {
          model: SIM_MODEL_QWQ_32B,
          messages: [{ role: 'user', content: `backlog ${i}` }],
          max_tokens: 8,
        }),
      ),
    );
    const inference = stack.deps.queues.get('inference');
    await waitForHandOff(stack.deps.queues, ids);
    await inference.drain();

    const check = await reconcileCheck(ctx, stack.deps.queues);
    expect(check.drift).toBe(70);
    const messages = await inference.getJobs(['wait']);
    expect(messages.map((m) => (m.data as { jobIds: string[] }).jobIds.length).sort()).toEqual([6, 64]);
    expect(new Set(messages.flatMap((m) => (m.data as { jobIds: string[] }).jobIds))).toEqual(new Set(ids));
    // Seen queued now: a second check re-queues nothing.
    expect((await reconcileCheck(ctx, stack.deps.queues)).drift).toBe(0);
    expect(await inference.getJobCountByTypes('wait')).toBe(2);

    const stop = startWorkers(ctx, stack.deps);
    try {
      await waitFor('the backlog ran', async () => {
        const [row] = await ctx.sql<{ n: number }[]>`
          select count(*)::int as n from jobs where account_id = ${c.accountId} and status = 'succeeded'`;
        return row!.n === 70;
      });
    } finally {
      await stop();
    }
  });
});
