import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { startWorkers } from '../../workers/index.js';
import { settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { refuseHoldsOf } from '../helpers/refuse-holds.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// Sync chat answers without waiting for its hold's write. These tests make Postgres refuse that
// write (a constraint on one customer's holds, NOT VALID so no other row is judged) and follow the
// money. No workers until a test starts them: the hand-off can be looked at in the queue first.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ workers: false });
});
let acceptHolds: (() => Promise<void>) | null = null;
afterEach(async () => {
  for (const n of stack.sim.nodes) n.setFaults({});
  await acceptHolds?.();
});
afterAll(async () => {
  await stack?.close();
});

const chat = { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 };

/** A customer whose holds Postgres refuses, and one chat request of theirs served, its settlement handed off. */
async function servedUnrecorded() {
  const c = await createCustomer(stack.env.ctx, stack.server.url);
  const accept = await refuseHoldsOf(stack.env.ctx.sql, c.childId);
  acceptHolds = accept; // (afterEach too, should the test fail first)
  const res = await call(stack.server.url, 'POST', '/v1/chat/completions', { token: c.childKey, body: chat });
  expect(res.status).toBe(200);
  const settlement = stack.deps.queues.get('settlement');
  await waitFor('settlement handed off', async () => (await settlement.getJobCountByTypes('wait')) === 1);
  return { c, accept };
}

describe('a sync request whose hold Postgres did not record', () => {
  it('is served, and billed once by settlement, which writes the hold from its terms', async () => {
    const { ctx } = stack.env;
    const { c, accept } = await servedUnrecorded();
    const settlement = stack.deps.queues.get('settlement');
    const [job] = await settlement.getJobs(['wait']);
    const item = (job!.data as { items: { holdId: string; unrecorded?: { childKeyId: string } }[] })
      .items[0]!;
    expect(item.unrecorded?.childKeyId).toBe(c.childId);
    expect(await ctx.sql`select 1 from holds where id = ${item.holdId}`).toHaveLength(0);

    await accept();
    const stop = startWorkers(ctx, stack.deps);
    try {
      await waitFor('request billed', async () => {
        const [h] = await ctx.sql`select status from holds where id = ${item.holdId}`;
        return h?.status === 'posted';
      });
    } finally {
      await stop();
    }
    // Billed by one charge, and only this request was (the charge's customer leg is its cost).
    const [charges] = await ctx.sql<{ n: number; amount: bigint }[]>`
      select count(*)::int as n, coalesce(-sum(p.amount), 0)::bigint as amount
      from holds h join transfers t on t.kind = 'charge' and t.ref = h.charge_ref
      join postings p on p.transfer_id = t.id
      where h.id = ${item.holdId} and p.ledger_account_id = ${c.accountId}`;
    expect(charges?.n).toBe(1);
    const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(account.body.held_ngonka).toBe('0');
    expect(BigInt(account.body.balance_ngonka)).toBe(1_000_000_000n - charges!.amount);
    // Redis gave back what the charge did not use: it agrees with Postgres.
    const report = await runReconcile(ctx);
    expect(report.drift).toEqual([]);
    expect(await ledgerDrift(ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('not served either, takes its admission back: nothing held in Redis, nothing to settle', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url, { child: { rate_limit_rpm: 5 } });
    acceptHolds = await refuseHoldsOf(ctx.sql, c.childId);
    for (const n of stack.sim.nodes) n.setFaults({ status: 503 });

    const res = await call(stack.server.url, 'POST', '/v1/chat/completions', {
      token: c.childKey,
      body: chat,
    });
    expect(res.status).toBe(503);
    // The reservation and the RPM slot are given back once the write's failure is known.
    await waitFor('admission taken back', async () => (await runReconcile(ctx)).drift.length === 0);
    const rpm = await ctx.redis.zcard(ctx.keys.rpm(c.accountId, c.childId));
    expect(rpm).toBe(0);
    expect(await stack.deps.queues.get('settlement').getJobCountByTypes('wait', 'delayed')).toBe(0);
  });

  it('keeps its reservation through reconcile --fix, so its settlement leaves Redis as tight as Postgres', async () => {
    const { ctx } = stack.env;
    const { c, accept } = await servedUnrecorded();

    // Postgres knows nothing of the hold yet: the repair must not take its reservation away, yet
    // still tightens a balance Redis shows looser than that (1,000 nGNK too many here).
    const balanceKey = ctx.keys.balance(c.accountId);
    const tight = await ctx.redis.get(balanceKey);
    await ctx.redis.incrby(balanceKey, 1000);
    const report = await runReconcile(ctx, { fix: true });
    expect(await ctx.redis.get(balanceKey)).toBe(tight);
    expect(report.drift.map((d) => d.message)).toContainEqual(expect.stringMatching(/has no row for/));

    await accept();
    const stop = startWorkers(ctx, stack.deps);
    try {
      await waitFor('request billed', async () => {
        const [h] = await ctx.sql`select h.status from holds h where h.account_id = ${c.accountId}`;
        return h?.status === 'posted';
      });
      await settled(ctx, c.accountId); // Redis's available comes to Postgres's
    } finally {
      await stop();
    }
    expect((await runReconcile(ctx)).drift).toEqual([]);
  });
});
