import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { startWorkers } from '../../workers/index.js';
import { settled } from '../helpers/books.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { submitJob, waitForHandOff } from '../helpers/jobs.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A key its owner deletes, disables or lets expire while its jobs wait in the queue: the jobs end
 * unrun (failed, with the key's 401) and their holds go back, as the batch lines of such a key
 * not yet dispatched do. Without this the owner kept paying for what a revoked key had queued,
 * and the key could not even cancel it (401).
 */
let stack: TestStack;
beforeAll(async () => {
  // No workers until the key has been stopped: the jobs are still queued then.
  stack = await startTestStack({ workers: false });
});
afterAll(async () => {
  await stack?.close();
});

const REQUEST = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'later' }], max_tokens: 8 };
const served = () => stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0);

async function queuedJobs(c: Customer, n: number): Promise<string[]> {
  const ids = await Promise.all(
    Array.from({ length: n }, () => submitJob(stack.server.url, c.childKey, REQUEST)),
  );
  await waitForHandOff(stack.deps.queues, ids);
  return ids;
}

/** Run the workers until every job ended and its hold was resolved; the jobs as the owner sees them. */
async function runAll(c: Customer, ids: string[]): Promise<Record<string, unknown>[]> {
  const stop = startWorkers(stack.env.ctx, stack.deps);
  try {
    const jobs = await waitFor('jobs ended', async () => {
      const jobs = await Promise.all(
        ids.map(
          async (id) => (await call(stack.server.url, 'GET', `/api/jobs/${id}`, { token: c.jwt })).body,
        ),
      );
      return jobs.every((j) => j.status !== 'queued' && j.status !== 'running') ? jobs : null;
    });
    await settled(stack.env.ctx, c.accountId);
    return jobs;
  } finally {
    await stop();
  }
}

describe('queued jobs of a key stopped meanwhile', () => {
  for (const [how, stopKey, code] of [
    [
      'deleted',
      (c: Customer) => call(stack.server.url, 'DELETE', childPath(c), { token: c.jwt }),
      'key_revoked',
    ],
    [
      'disabled',
      (c: Customer) =>
        call(stack.server.url, 'PATCH', childPath(c), { token: c.jwt, body: { status: 'disabled' } }),
      'key_disabled',
    ],
    [
      'revoked with its management key',
      (c: Customer) => call(stack.server.url, 'DELETE', `/api/management/keys/${c.mkId}`, { token: c.jwt }),
      'key_revoked',
    ],
  ] as const)
    it(`ends them unrun, unbilled, when the key is ${how}`, async () => {
      const c = await createCustomer(stack.env.ctx, stack.server.url);
      const ids = await queuedJobs(c, 3);
      expect((await stopKey(c)).status).toBe(200);
      const before = served();
      const jobs = await runAll(c, ids);
      for (const j of jobs)
        expect(j).toMatchObject({
          status: 'failed',
          error: { type: 'invalid_api_key', code },
          cost_ngonka: '0',
        });
      expect(served()).toBe(before);
      const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
      expect(account.body).toMatchObject({ balance_ngonka: '1000000000', held_ngonka: '0' });
    });

  it('ends them when the key expired while they waited, and runs those of a live key', async () => {
    const expiresAt = Date.now() + 1_500;
    const expiring = await createCustomer(stack.env.ctx, stack.server.url, {
      child: { expires_at: new Date(expiresAt).toISOString() },
    });
    const live = await createCustomer(stack.env.ctx, stack.server.url);
    const expiringIds = await queuedJobs(expiring, 2);
    const liveIds = await queuedJobs(live, 2);
    await new Promise((r) => setTimeout(r, Math.max(expiresAt - Date.now(), 0) + 100));
    const ended = await runAll(expiring, expiringIds);
    expect(ended.map((j) => [j.status, (j.error as { code?: string })?.code])).toEqual([
      ['failed', 'key_expired'],
      ['failed', 'key_expired'],
    ]);
    const ran = await runAll(live, liveIds);
    expect(ran.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);
  });
});

function childPath(c: Customer): string {
  return `/api/management/keys/${c.mkId}/children/${c.childId}`;
}
