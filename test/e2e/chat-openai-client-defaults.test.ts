import OpenAI, { APIError } from 'openai';
import { beforeEach, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { accountView, expectNoLedgerDrift, settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { healthyNodes, useTestStack } from '../helpers/stack.js';

/**
 * The official openai client as applications set it up: its default retries (429, 5xx, 408, 409
 * and dropped connections, twice), its stream helper, an AbortController, and the headers it
 * sends unasked (x-stainless-*, Idempotency-Key) or when configured (OpenAI-Organization,
 * OpenAI-Project). The other e2e files use it with retries off.
 */
const stack = useTestStack();

// The 502 test's failures would open the breakers for the next.
beforeEach(() => healthyNodes(stack));

const MODEL = SIM_MODEL_QWEN3_235B;
const BALANCE = 1_000_000_000n;
const ask = (content: string) => [{ role: 'user' as const, content }];

/** The client with its defaults, counting the requests that reached the gateway. */
function defaultClient(apiKey: string): { openai: OpenAI; sent: () => number } {
  let sent = 0;
  const openai = new OpenAI({
    apiKey,
    baseURL: `${stack.server.url}/v1`,
    organization: 'org-from-the-app',
    project: 'proj_from_the_app',
    fetch: (url, init) => {
      sent++;
      return fetch(url, init);
    },
  });
  return { openai, sent: () => sent };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.unreachable('the request was expected to fail'),
    (e: unknown) => e,
  );
}

describe('the openai client with its default retries', () => {
  it('sends a 402 once: no retry, nothing charged', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 10n });
    const { openai, sent } = defaultClient(c.childKey);
    const err = await rejection(openai.chat.completions.create({ model: MODEL, messages: ask('hi') }));
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(402);
    expect((err as APIError).type).toBe('insufficient_balance');
    expect((err as APIError).requestID).toMatch(/\S/);
    expect(sent()).toBe(1);
    expect((await accountView(stack.server.url, c.jwt)).balance_ngonka).toBe('10');
  });

  it('retries a 502 as the client does, and bills none of the attempts', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (const n of stack.sim.nodes) n.setFaults({ status: 500 });
    const { openai, sent } = defaultClient(c.childKey);
    const err = await rejection(
      openai.chat.completions.create({ model: MODEL, messages: ask('hi'), max_tokens: 5 }),
    );
    expect((err as APIError).status).toBe(502);
    expect((err as APIError).type).toBe('upstream_error');
    expect(sent()).toBe(3);
    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status)).toEqual(['voided', 'voided', 'voided']);
    const account = await accountView(stack.server.url, c.jwt);
    expect([account.balance_ngonka, account.held_ngonka]).toEqual([BALANCE.toString(), '0']);
  });

  it('serves and bills once a request carrying the headers the client adds, and names it by x-request-id', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const { openai } = defaultClient(c.childKey);
    const done = await openai.chat.completions.create({ model: MODEL, messages: ask('hi'), max_tokens: 5 });
    expect(done._request_id).toMatch(/\S/);
    const streamed = await openai.chat.completions
      .create({ model: MODEL, messages: ask('hi'), max_tokens: 5, stream: true })
      .withResponse();
    for await (const _ of streamed.data);
    expect(streamed.request_id).toMatch(/\S/);
    expect(streamed.request_id).not.toBe(done._request_id);
    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status)).toEqual(['posted', 'posted']);
  });
});

describe('the client’s stream helper and AbortController', () => {
  it('gives finalChatCompletion the text a plain request gets, with usage only when asked', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const body = { model: MODEL, messages: ask('Tell me something'), max_tokens: 30 };
    const whole = await c.openai.chat.completions.create(body);
    const plain = await c.openai.chat.completions.stream(body).finalChatCompletion();
    expect(plain.choices[0]?.message.content).toBe(whole.choices[0]?.message.content);
    expect(plain.choices[0]?.finish_reason).toBe(whole.choices[0]?.finish_reason);
    expect(plain.choices[0]?.logprobs).toBeNull();
    expect(plain.usage ?? null).toBeNull();
    const counted = await c.openai.chat.completions
      .stream({ ...body, stream_options: { include_usage: true } })
      .finalChatCompletion();
    expect(counted.usage).toEqual(whole.usage);
  });

  it('bills an aborted stream for what was generated and resolves its hold, as the account’s books show', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const ac = new AbortController();
    const stream = await c.openai.chat.completions.create(
      { model: MODEL, messages: ask('A long story [[sim delay=50]]'), max_tokens: 500, stream: true },
      { signal: ac.signal },
    );
    let id = '';
    let chunks = 0;
    // The client's stream ends quietly when its signal aborts it.
    for await (const chunk of stream) {
      id = chunk.id;
      if (++chunks === 3) ac.abort();
    }
    expect(chunks).toBeGreaterThanOrEqual(3);
    await settled(stack.env.ctx, c.accountId);

    const account = await accountView(stack.server.url, c.jwt);
    expect(account.held_ngonka).toBe('0');
    const ledger = await call(stack.server.url, 'GET', '/api/account/ledger', { token: c.jwt });
    const charges = ledger.body.data.filter((e: { kind: string }) => e.kind === 'charge');
    expect(charges).toHaveLength(1);
    const charge = charges[0];
    expect(BigInt(account.balance_ngonka!)).toBe(BALANCE - BigInt(charge.amount_ngonka));
    // The charge names the completion the client was streaming, billed for some tokens, not the whole hold.
    const entry = await call(stack.server.url, 'GET', `/api/account/ledger/${charge.id}`, { token: c.jwt });
    expect(entry.body.requests).toHaveLength(1);
    const [billed] = entry.body.requests;
    expect(billed.id).toBe(id);
    expect(billed.completion_tokens).toBeGreaterThanOrEqual(3);
    expect(billed.completion_tokens).toBeLessThan(500);
    await expectNoLedgerDrift(stack.env.ctx);
  });
});
