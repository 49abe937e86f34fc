import { APIError } from 'openai';
import { beforeEach, describe, expect, it } from 'vitest';
import { accountBooks, accountView, expectNoLedgerDrift, holdsOf, settled } from '../helpers/books.js';
import { ask, BALANCE, charge, MODEL } from '../helpers/chat-faults.js';
import { createCustomer } from '../helpers/customer.js';
import { refuseHoldsOf } from '../helpers/refuse-holds.js';
import { healthyNodes, startTestStack, useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { expectWhiteLabelled } from '../helpers/white-label.js';

const stack = useTestStack();

beforeEach(() => healthyNodes(stack));

async function refusal(p: Promise<unknown>): Promise<APIError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(APIError);
  return err as APIError;
}

/** The request resolved with nothing charged: the hold voided, held and Redis back where they were. */
async function expectVoided(accountId: string, jwt: string): Promise<void> {
  const holds = await settled(stack.env.ctx, accountId);
  expect(holds.map((h) => h.status)).toEqual(['voided']);
  const account = await accountView(stack.server.url, jwt);
  expect(account.held_ngonka).toBe('0');
  expect(account.balance_ngonka).toBe(BALANCE.toString());
  expect((await accountBooks(stack.env.ctx, accountId)).redisAvailable).toBe(BALANCE);
}

describe('sync chat when nodes fail', () => {
  it('fails over from a node answering 503 to another node: 200, billed once', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    stack.sim.nodes[0]!.setFaults({ status: 503 });
    const res = await c.openai.chat.completions.create({
      model: MODEL,
      messages: ask('Hello'),
      max_tokens: 20,
    });
    expect(res.choices[0]?.message.content).toMatch(/\w+/);
    expect(stack.sim.nodes[0]!.stats).toMatchObject({ requests: 1, errors: 1, served: 0 });
    expect(stack.sim.nodes[1]!.stats).toMatchObject({ requests: 1, served: 1 });

    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status)).toEqual(['posted']);
    const books = await accountBooks(stack.env.ctx, c.accountId);
    expect(books.billed).toBe(1);
    expect(books.balance).toBe(BALANCE - charge(res.usage!.total_tokens));
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('answers 503 upstream_unavailable when no node has executors, and voids the hold', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (const n of stack.sim.nodes) n.setFaults({ status: 503 });
    const err = await refusal(c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello') }));
    expect(err.status).toBe(503);
    expect(err.type).toBe('upstream_unavailable');
    expect(stack.sim.nodes.map((n) => n.stats.errors)).toEqual([1, 1]);
    expectWhiteLabelled([err.message, JSON.stringify(err.error)], stack.sim);
    await expectVoided(c.accountId, c.jwt);
  });

  it('gives back the RPM slot of a request no node served, streamed or not', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 2 } });
    for (const n of stack.sim.nodes) n.setFaults({ status: 503 });
    for (let i = 0; i < 3; i++) {
      const err = await refusal(c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello') }));
      expect(err.status).toBe(503);
      // Its headers say so too: the whole quota is left.
      expect(err.headers?.get('x-ratelimit-remaining-requests')).toBe('2');
    }
    const streamed = await refusal(
      c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello'), stream: true }),
    );
    expect(streamed.status).toBe(503);
    expect(streamed.headers?.get('x-ratelimit-remaining-requests')).toBe('2');
    healthyNodes(stack);
    // The quota is whole: neither request is refused for the rate, and the next one is.
    for (let i = 0; i < 2; i++)
      await c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello'), max_tokens: 5 });
    const limited = await refusal(
      c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello'), max_tokens: 5 }),
    );
    expect(limited.status).toBe(429);
  });

  it('keeps the RPM slot of a request whose every attempt ended in a server error (502)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 2 } });
    for (const n of stack.sim.nodes) n.setFaults({ status: 500 });
    for (let i = 0; i < 2; i++) {
      const err = await refusal(c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello') }));
      expect(err.status).toBe(502);
    }
    const limited = await refusal(c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello') }));
    expect(limited.status).toBe(429);
  });

  it('answers 502 upstream_error when every attempt ends in a server error, and voids the hold', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (const n of stack.sim.nodes) n.setFaults({ status: 500 });
    const err = await refusal(c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello') }));
    expect(err.status).toBe(502);
    expect(err.type).toBe('upstream_error');
    expectWhiteLabelled([err.message, JSON.stringify(err.error)], stack.sim);
    await expectVoided(c.accountId, c.jwt);
  });

  it('serves again as soon as the nodes recover, though failures opened every breaker', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (const n of stack.sim.nodes) n.setFaults({ status: 500 });
    const ask500 = () => refusal(c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello') }));
    while (stack.deps.upstream.pool.status().some((n) => n.state === 'closed'))
      expect((await ask500()).status).toBe(502);
    for (const n of stack.sim.nodes) n.setFaults({});
    // Within the breakers' cooldown: one node has its trial early rather than all refusing for it.
    const res = await c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello again') });
    expect(res.choices[0]?.message.content).toMatch(/\w+/);
    expect(stack.deps.upstream.pool.status().filter((n) => n.state === 'closed')).toHaveLength(1);
  });

  it('answers 503 upstream_unavailable when every node is unreachable, and voids the hold', async () => {
    const own = await startTestStack({ workers: {} });
    try {
      const c = await createCustomer(own.env.ctx, own.server.url);
      await own.sim.close();
      const err = await refusal(c.openai.chat.completions.create({ model: MODEL, messages: ask('Hello') }));
      expect(err.status).toBe(503);
      expect(err.type).toBe('upstream_unavailable');
      expect(err.headers?.get('retry-after')).toBe('1');
      expectWhiteLabelled([err.message, JSON.stringify(err.error)], own.sim);
      const holds = await settled(own.env.ctx, c.accountId);
      expect(holds.map((h) => h.status)).toEqual(['voided']);
      expect((await accountView(own.server.url, c.jwt)).held_ngonka).toBe('0');
    } finally {
      await own.close();
    }
  });
});

describe('a hold Postgres cannot record', () => {
  /**
   * Sync chat writes the hold while the node works and answers without waiting for it; a request
   * served whose write failed is billed by settlement, which writes the hold from its terms (and
   * retries while Postgres still refuses). chat-unrecorded-hold.test.ts looks at the hand-off itself.
   */
  it.each([false, true])(
    'serves the request and bills it once Postgres takes writes again (stream: %s)',
    async (stream) => {
      const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 10 } });
      const { sql } = stack.env.ctx;
      const acceptHolds = await refuseHoldsOf(sql, c.childId);
      let tokens = 0;
      try {
        if (stream) {
          const s = await c.openai.chat.completions.create({
            model: MODEL,
            messages: ask('Hello'),
            max_tokens: 20,
            stream: true,
            stream_options: { include_usage: true },
          });
          for await (const chunk of s) if (chunk.usage) tokens = chunk.usage.total_tokens;
        } else {
          const res = await c.openai.chat.completions.create({
            model: MODEL,
            messages: ask('Hello'),
            max_tokens: 20,
          });
          tokens = res.usage!.total_tokens;
        }
        expect(tokens).toBeGreaterThan(0);
        // Refused while the trigger stands: nothing is booked yet, and the reservation is kept.
        await new Promise((r) => setTimeout(r, 300));
        expect(await holdsOf(stack.env.ctx, c.accountId)).toEqual([]);
        expect((await accountBooks(stack.env.ctx, c.accountId)).redisAvailable).toBeLessThan(BALANCE);
      } finally {
        await acceptHolds();
      }
      await waitFor(
        'billed',
        async () => (await accountBooks(stack.env.ctx, c.accountId)).billed === 1,
        15_000,
      );
      const books = await accountBooks(stack.env.ctx, c.accountId);
      expect(books.balance).toBe(BALANCE - charge(tokens));
      // Redis gave back what the charge did not use.
      await waitFor(
        'released',
        async () => (await accountBooks(stack.env.ctx, c.accountId)).redisAvailable === books.balance,
      );
      expect((await accountView(stack.server.url, c.jwt)).held_ngonka).toBe('0');
      await expectNoLedgerDrift(stack.env.ctx);
      // It was served, so it took one of the key's 10 requests a minute.
      const next = await fetch(`${stack.server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.childKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: ask('Hello'), max_tokens: 5 }),
      });
      expect(next.status).toBe(200);
      expect(next.headers.get('x-ratelimit-remaining-requests')).toBe('8');
      await next.text();
    },
  );
});

describe('settlement', () => {
  it('charges once when the same settlement is delivered twice', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await c.openai.chat.completions.create({
      model: MODEL,
      messages: ask('Hello'),
      max_tokens: 20,
    });
    const [hold] = await settled(stack.env.ctx, c.accountId);
    const before = await accountBooks(stack.env.ctx, c.accountId);
    expect(before.balance).toBe(BALANCE - charge(res.usage!.total_tokens));

    // At-least-once delivery: the same hold settled again under another job id, even with other usage.
    const jobId = `dup-${hold!.id}`;
    await stack.deps.queues.add(
      'settlement',
      { holdId: hold!.id, outcome: 'post', promptTokens: 500, completionTokens: 500, enqueuedAt: Date.now() },
      { jobId },
    );
    const q = stack.deps.queues.get('settlement');
    const job = await waitFor('duplicate settled', async () => {
      const j = await q.getJob(jobId);
      return j?.finishedOn ? j : null;
    });
    expect(job.returnvalue).toEqual({ status: 'already', charged_ngonka: '0' });
    expect(await accountBooks(stack.env.ctx, c.accountId)).toEqual(before);
    expect(await holdsOf(stack.env.ctx, c.accountId)).toEqual([hold]);
    await expectNoLedgerDrift(stack.env.ctx);
  });
});
