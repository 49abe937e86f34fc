import { describe, expect, it } from 'vitest';
import { startWorkers } from '../../workers/index.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { queuedJob, waitForNothingHeld } from '../helpers/jobs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A job whose workers died mid-call more often than the stalled check allows: BullMQ marks its
 * message (the `defa` field its stalled check writes) and fails it, unrecoverably, on the next
 * pick-up, with attempts left. The job must then end visibly and give its hold back, not stay
 * `running` until reconciliation queues it again.
 */
const stack = useTestStack({ workers: false });

describe('a job that stalled too often', () => {
  it('fails with its reason and voids its hold, attempts left or not', async () => {
    const { ctx } = stack.env;
    const { c, jobId } = await queuedJob(stack);
    const inference = stack.deps.queues.get('inference');
    const [message] = await inference.getJobs(['wait', 'prioritized']);
    expect(message?.data).toEqual({ jobIds: [jobId] });
    // What moveStalledJobsToWait writes once a message stalled more than maxStalledCount times.
    await ctx.redis.hset(inference.toKey(message!.id!), 'defa', 'job stalled more than allowable limit');

    const stop = startWorkers(ctx, stack.deps);
    try {
      await waitFor('job failed', async () => {
        const job = await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey });
        return job.body.status === 'failed';
      });
      const job = await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey });
      expect(job.body.error).toEqual({
        type: 'internal_error',
        message: 'The job was interrupted while running too many times and was not tried again',
      });
      expect(job.body.cost_ngonka).toBe('0');
      await waitForNothingHeld(stack, c);
      const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
      expect(account.body.balance_ngonka).toBe('1000000000');
    } finally {
      await stop();
    }
    const [hold] = await ctx.sql<{ status: string }[]>`select status from holds where request_id = ${jobId}`;
    expect(hold!.status).toBe('voided');
    expect(await ledgerDrift(ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('gives back the hold of a job cancelled while its workers kept dying', async () => {
    const { ctx } = stack.env;
    const { c, jobId } = await queuedJob(stack);
    const inference = stack.deps.queues.get('inference');
    const [message] = await inference.getJobs(['wait', 'prioritized']);
    await ctx.redis.hset(inference.toKey(message!.id!), 'defa', 'job stalled more than allowable limit');
    // Cancelled while a worker held the message: the cancel left the hold to that worker, which died.
    await ctx.sql`update jobs set status = 'cancelled', completed_at = now() where id = ${jobId}`;

    const stop = startWorkers(ctx, stack.deps);
    try {
      await waitForNothingHeld(stack, c);
    } finally {
      await stop();
    }
    const [hold] = await ctx.sql<{ status: string }[]>`select status from holds where request_id = ${jobId}`;
    expect(hold!.status).toBe('voided');
  });
});
