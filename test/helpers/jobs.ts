import { expect } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { inferenceJobIds, parsePayload, type Queues } from '../../shared/queues.js';
import { pendingMessages } from '../../shared/reconcile/queued-jobs.js';
import { type Customer, createCustomer } from './customer.js';
import { ledgerDrift } from './fixtures.js';
import { call } from './http.js';
import type { TestStack } from './stack.js';
import { waitFor } from './wait.js';

/** POST /v1/jobs as a child key with a chat request; the accepted job's id. */
export async function submitJob(url: string, childKey: string, request: unknown): Promise<string> {
  const res = await call(url, 'POST', '/v1/jobs', { token: childKey, body: { request } });
  return res.body.id as string;
}

/**
 * Wait until every one of these accepted jobs has its message in the inference queue: the 202
 * does not wait for the hand-off (shared/jobs/submit.ts), a test that reads the queue does.
 */
export async function waitForHandOff(queues: Queues, jobIds: readonly string[]): Promise<void> {
  await waitFor(`${jobIds.length} job(s) in the inference queue`, async () => {
    const queued = new Set<string>();
    for await (const m of pendingMessages(queues, 'inference'))
      for (const id of inferenceJobIds(parsePayload('inference', m.data))) queued.add(id);
    return jobIds.every((id) => queued.has(id));
  });
}

/**
 * A new customer's one small job, accepted and handed to the inference queue (its message waiting
 * there): for tests that then do something to that message.
 */
export async function queuedJob(stack: TestStack): Promise<{ c: Customer; jobId: string }> {
  const c = await createCustomer(stack.env.ctx, stack.server.url);
  const jobId = await submitJob(stack.server.url, c.childKey, {
    model: SIM_MODEL_QWQ_32B,
    messages: [{ role: 'user', content: 'hello' }],
    max_tokens: 8,
  });
  await waitForHandOff(stack.deps.queues, [jobId]);
  return { c, jobId };
}

/**
 * A job cancelled while its node call ran: it says cancelled, shows the node's usage, its answer and a cost,
 * that cost is what left the balance (a new customer's 1 GNK), nothing stays held, and the books
 * balance.
 */
export async function expectBilledCancelled(stack: TestStack, c: Customer, jobId: string): Promise<void> {
  const job = await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey });
  const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
  expect(job.body.status).toBe('cancelled');
  expect(job.body.usage.completion_tokens).toBeGreaterThan(0);
  // …and the answer it was billed for, readable like any job's.
  expect(job.body.result.choices[0].message.content).toEqual(expect.any(String));
  expect(BigInt(job.body.cost_ngonka)).toBeGreaterThan(0n);
  expect((1_000_000_000n - BigInt(account.body.balance_ngonka)).toString()).toBe(job.body.cost_ngonka);
  expect(account.body.held_ngonka).toBe('0');
  expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
}

/** Wait until the customer's account holds nothing (its holds settled or voided). */
export async function waitForNothingHeld(stack: TestStack, c: Customer): Promise<void> {
  await waitFor('nothing held', async () => {
    const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    return a.body.held_ngonka === '0';
  });
}
