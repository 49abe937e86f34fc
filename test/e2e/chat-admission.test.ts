import OpenAI, { APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B, simulateCompletion } from '../../shared/gonka/simulator/index.js';
import { signSession } from '../../shared/jwt.js';
import { dayResetsAt, monthResetsAt } from '../../shared/periods.js';
import { holdEstimate, priceTokens } from '../../shared/pricing.js';
import { accountBooks, accountView, expectNoLedgerDrift, settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { expectWhiteLabelled, recordingFetch, type Seen, seenTexts } from '../helpers/white-label.js';

const stack = useTestStack();

const MODEL = SIM_MODEL_QWEN3_235B;
/**
 * The node always writes all 8 tokens. A request's charge is a token under its hold (Gonka escrows
 * a newline per message), so the races run with settlement paused: a settlement landing mid-race
 * would free that token, and how many requests fit a limit or a balance would not be exact.
 */
const MESSAGES = [{ role: 'user' as const, content: 'b' }];
const MAX_TOKENS = 8;
const EST = holdEstimate(MESSAGES, MAX_TOKENS, 10n, 12_000);
const CHARGE = priceTokens(9n, 10n, 12_000); // 1 prompt token + 8 completion tokens

/** Runs the race with settlement paused, then lets it catch up. */
async function withSettlementPaused<T>(race: () => Promise<T>): Promise<T> {
  const settlement = stack.deps.queues.get('settlement');
  await settlement.pause();
  try {
    return await race();
  } finally {
    await settlement.resume();
  }
}
const REQUEST = { model: MODEL, messages: MESSAGES, max_tokens: MAX_TOKENS };

/** Every /v1 answer of this file, checked for white-label at the end. */
const seen: Seen[] = [];
const client = (key: string) =>
  new OpenAI({
    apiKey: key,
    baseURL: `${stack.server.url}/v1`,
    maxRetries: 0,
    fetch: recordingFetch(seen),
  });

async function outcome(p: Promise<unknown>): Promise<'ok' | APIError> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof APIError) return err;
    throw err;
  }
}
const failure = async (p: Promise<unknown>) => {
  const r = await outcome(p);
  if (r === 'ok') throw new Error('expected the request to be refused');
  return r;
};

describe('money limits under concurrency', () => {
  it('admits exactly as many of 500 concurrent requests as the daily limit fits', async () => {
    expect(simulateCompletion(MESSAGES, MAX_TOKENS)).toMatchObject({ promptTokens: 1, completionTokens: 8 });
    const fits = 20n;
    const limit = fits * EST + EST / 2n;
    const c = await createCustomer(stack.env.ctx, stack.server.url, {
      child: { limit_daily_ngonka: limit.toString() },
    });
    const ai = client(c.childKey);
    const results = await withSettlementPaused(() =>
      Promise.all(Array.from({ length: 500 }, () => outcome(ai.chat.completions.create(REQUEST)))),
    );
    const refused = results.filter((r): r is APIError => r !== 'ok');
    expect(results.filter((r) => r === 'ok')).toHaveLength(Number(fits));
    expect(refused).toHaveLength(500 - Number(fits));
    const now = new Date();
    for (const err of refused) {
      expect(err.status).toBe(402);
      expect(err.error).toEqual({
        type: 'child_key_limit',
        message: expect.any(String),
        daily_remaining: (limit - fits * EST).toString(),
        monthly_remaining: null,
        daily_resets_at: dayResetsAt(now).toISOString(),
        monthly_resets_at: monthResetsAt(now).toISOString(),
      });
    }

    const holds = await settled(stack.env.ctx, c.accountId);
    const charged = holds.reduce((s, h) => s + (h.posted_amount ?? 0n), 0n);
    expect(holds.map((h) => h.status)).toEqual(Array(Number(fits)).fill('posted'));
    expect(charged).toBe(fits * CHARGE);
    const child = await call(
      stack.server.url,
      'GET',
      `/api/management/keys/${c.mkId}/children/${c.childId}`,
      {
        token: c.jwt,
      },
    );
    expect(child.body.usage).toMatchObject({
      daily_spent_ngonka: charged.toString(),
      daily_reserved_ngonka: '0',
      daily_remaining_ngonka: (limit - charged).toString(),
      requests_today: Number(fits),
    });
    const account = await accountView(stack.server.url, c.jwt);
    expect(account).toMatchObject({
      balance_ngonka: (1_000_000_000n - charged).toString(),
      held_ngonka: '0',
    });
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('never overdraws one balance raced through 10 child keys', async () => {
    const fits = 40n;
    const balance = fits * EST + EST / 2n;
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance });
    const keys = [c.childKey];
    for (let i = 1; i < 10; i++) {
      const child = await call(stack.server.url, 'POST', `/api/management/keys/${c.mkId}/children`, {
        token: c.mkKey,
        body: { name: `Client ${i}` },
      });
      keys.push(child.body.key);
    }
    const clients = keys.map(client);
    const results = await withSettlementPaused(() =>
      Promise.all(
        Array.from({ length: 300 }, (_, i) => outcome(clients[i % 10]!.chat.completions.create(REQUEST))),
      ),
    );
    const refused = results.filter((r): r is APIError => r !== 'ok');
    expect(results.filter((r) => r === 'ok')).toHaveLength(Number(fits));
    for (const err of refused) {
      expect(err.status).toBe(402);
      expect(err.type).toBe('insufficient_balance');
      const available = BigInt((err.error as { available_ngonka: string }).available_ngonka);
      expect(available >= 0n && available < EST).toBe(true);
    }

    await settled(stack.env.ctx, c.accountId);
    const books = await accountBooks(stack.env.ctx, c.accountId);
    expect(books.balance).toBe(balance - fits * CHARGE);
    expect(books.balance >= 0n).toBe(true);
    await expectNoLedgerDrift(stack.env.ctx);
  });
});

describe('requests per minute', () => {
  it('reports the window on every answer, then refuses with 429 and Retry-After', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 3 } });
    const ai = client(c.childKey);
    for (const remaining of ['2', '1', '0']) {
      const { response } = await ai.chat.completions.create(REQUEST).withResponse();
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(response.headers.get('x-ratelimit-remaining-requests')).toBe(remaining);
      expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
    }
    const err = await failure(ai.chat.completions.create(REQUEST));
    expect(err.status).toBe(429);
    expect(err.type).toBe('rate_limit_exceeded');
    const retryMs = (err.error as { retry_after_ms: number }).retry_after_ms;
    expect(retryMs).toBeGreaterThan(0);
    expect(retryMs).toBeLessThanOrEqual(60_000);
    expect(err.headers?.get('retry-after')).toBe(String(Math.ceil(retryMs / 1000)));
    expect(err.headers?.get('retry-after-ms')).toBe(String(retryMs));

    // A key without an RPM limit carries no rate-limit headers.
    const free = await createCustomer(stack.env.ctx, stack.server.url);
    const { response } = await client(free.childKey).chat.completions.create(REQUEST).withResponse();
    expect(response.headers.get('x-ratelimit-limit-requests')).toBeNull();
  });

  // API.md: "more than rate_limit_rpm requests in any rolling 60 s" is a 429, whenever they came.
  it('counts the last minute’s requests when a limit is set on a key that had none, or had it cleared', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const ai = client(c.childKey);
    const setRpm = async (rpm: number | null) => {
      const url = `/api/management/keys/${c.mkId}/children/${c.childId}`;
      const res = await call(stack.server.url, 'PATCH', url, { token: c.jwt, body: { rate_limit_rpm: rpm } });
      expect(res.status).toBe(200);
    };
    for (let i = 0; i < 3; i++) await ai.chat.completions.create(REQUEST);
    await setRpm(2);
    const err = await failure(ai.chat.completions.create(REQUEST));
    expect(err.status).toBe(429);

    await setRpm(null);
    for (let i = 0; i < 2; i++) await ai.chat.completions.create(REQUEST); // 5 in the minute
    await setRpm(5);
    expect((await failure(ai.chat.completions.create(REQUEST))).status).toBe(429);
    await setRpm(6);
    await ai.chat.completions.create(REQUEST); // room for exactly one more
    expect((await failure(ai.chat.completions.create(REQUEST))).status).toBe(429);
  });

  it('reports the window on a 402 too, without counting the refused request', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, {
      balance: EST,
      child: { rate_limit_rpm: 5, limit_daily_ngonka: (EST * 3n).toString() },
    });
    const ai = client(c.childKey);
    await ai.chat.completions.create(REQUEST); // spends the whole balance
    for (const [request, type] of [
      [REQUEST, 'insufficient_balance'],
      [{ ...REQUEST, max_tokens: 100 }, 'child_key_limit'],
    ] as const) {
      const err = await failure(ai.chat.completions.create(request));
      expect(err.status).toBe(402);
      expect(err.type).toBe(type);
      expect(err.headers?.get('x-ratelimit-limit-requests')).toBe('5');
      expect(err.headers?.get('x-ratelimit-remaining-requests')).toBe('4');
      expect(err.headers?.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
    }
  });
});

describe('who may call /v1', () => {
  it('refuses a management key with 403 permission_error, and a disabled or revoked one with 401', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const err = await failure(client(c.mkKey).chat.completions.create(REQUEST));
    expect(err.status).toBe(403);
    expect(err.type).toBe('permission_error');
    const mk = `/api/management/keys/${c.mkId}`;
    await call(stack.server.url, 'PATCH', mk, { token: c.jwt, body: { status: 'disabled' } });
    const disabled = await failure(client(c.mkKey).chat.completions.create(REQUEST));
    expect([disabled.status, disabled.code]).toEqual([401, 'key_disabled']);
    await call(stack.server.url, 'DELETE', mk, { token: c.jwt });
    const revoked = await failure(client(c.mkKey).chat.completions.create(REQUEST));
    expect([revoked.status, revoked.code]).toEqual([401, 'key_revoked']);
  });

  it('refuses an unknown key with 401 key_unknown, whatever its shape', async () => {
    for (const key of [`gc-${'x'.repeat(43)}`, 'sk-proj-not-ours', 'random']) {
      const err = await failure(client(key).chat.completions.create(REQUEST));
      expect([key, err.status, err.type, err.code]).toEqual([key, 401, 'invalid_api_key', 'key_unknown']);
    }
  });

  it('refuses the owner’s session token on /v1 with 403 permission_error', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const err = await failure(client(c.jwt).chat.completions.create(REQUEST));
    expect([err.status, err.type]).toEqual([403, 'permission_error']);
  });

  it('refuses a forged or foreign JWT on /v1 as an unknown key (401), not a misplaced credential', async () => {
    const forged = await signSession('not-this-gateways-secret-at-all', 'acct_x', 600);
    for (const token of [forged, 'eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.abc']) {
      const err = await failure(client(token).chat.completions.create(REQUEST));
      expect([err.status, err.type, err.code]).toEqual([401, 'invalid_api_key', 'key_unknown']);
    }
  });

  const invalidKey = async (key: string, code: string) => {
    const err = await failure(client(key).chat.completions.create(REQUEST));
    expect([err.status, err.type, err.code]).toEqual([401, 'invalid_api_key', code]);
  };
  const childPath = (c: { mkId: string; childId: string }) =>
    `/api/management/keys/${c.mkId}/children/${c.childId}`;

  it('refuses a child key on the very next request once it is disabled (key_disabled)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    expect(await outcome(client(c.childKey).chat.completions.create(REQUEST))).toBe('ok');
    const patched = await call(stack.server.url, 'PATCH', childPath(c), {
      token: c.jwt,
      body: { status: 'disabled' },
    });
    expect(patched.status).toBe(200);
    await invalidKey(c.childKey, 'key_disabled');
  });

  it('refuses a deleted child key at once (key_revoked)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    expect(await outcome(client(c.childKey).chat.completions.create(REQUEST))).toBe('ok');
    expect((await call(stack.server.url, 'DELETE', childPath(c), { token: c.mkKey })).status).toBe(200);
    await invalidKey(c.childKey, 'key_revoked');
  });

  it('refuses every child of a revoked management key at once (key_revoked)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    expect(await outcome(client(c.childKey).chat.completions.create(REQUEST))).toBe('ok');
    const revoked = await call(stack.server.url, 'DELETE', `/api/management/keys/${c.mkId}`, {
      token: c.jwt,
    });
    expect(revoked.status).toBe(200);
    await invalidKey(c.childKey, 'key_revoked');
  });

  it('refuses a child key from the instant it expires (key_expired)', async () => {
    const expiresAt = new Date(Date.now() + 1500);
    const c = await createCustomer(stack.env.ctx, stack.server.url, {
      child: { expires_at: expiresAt.toISOString() },
    });
    expect(await outcome(client(c.childKey).chat.completions.create(REQUEST))).toBe('ok');
    await new Promise((r) => setTimeout(r, expiresAt.getTime() - Date.now() + 10));
    await invalidKey(c.childKey, 'key_expired');
  });
});

describe('request validation', () => {
  it.each([
    ['a missing model', { messages: MESSAGES }, 'model'],
    ['an unknown model', { model: 'no-such-model', messages: MESSAGES }, 'model'],
    ['empty messages', { model: MODEL, messages: [] }, 'messages'],
    ['max_tokens 0', { ...REQUEST, max_tokens: 0 }, 'max_tokens'],
    ['n = 2', { ...REQUEST, n: 2 }, 'n'],
    // OpenAI's own ranges and types: refused here, naming the field, rather than by a node whose
    // refusal would name none.
    ['a temperature that is no number', { ...REQUEST, temperature: 'hot' }, 'temperature'],
    ['a temperature above 2', { ...REQUEST, temperature: 5 }, 'temperature'],
    ['top_p above 1', { ...REQUEST, top_p: 1.5 }, 'top_p'],
    ['a penalty below -2', { ...REQUEST, presence_penalty: -3 }, 'presence_penalty'],
    ['a fractional seed', { ...REQUEST, seed: 1.5 }, 'seed'],
    ['five stop sequences', { ...REQUEST, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [
      'stream_options without stream',
      { ...REQUEST, stream_options: { include_usage: true } },
      'stream_options',
    ],
    ['a user message without content', { ...REQUEST, messages: [{ role: 'user' }] }, 'messages.0.content'],
    [
      'a text part whose text is no string',
      { ...REQUEST, messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] },
      'messages.0.content.0.text',
    ],
    ['tools that are no list', { ...REQUEST, tools: 'nope' }, 'tools'],
    ['a tool without a type', { ...REQUEST, tools: [{ function: { name: 'f' } }] }, 'tools.0.type'],
    ['an unknown tool_choice', { ...REQUEST, tool_choice: 'sometimes' }, 'tool_choice'],
    ['a response_format that is no object', { ...REQUEST, response_format: 5 }, 'response_format'],
    ['a response_format without a type', { ...REQUEST, response_format: {} }, 'response_format.type'],
    ['a logit_bias past 100', { ...REQUEST, logit_bias: { '50256': 101 } }, 'logit_bias.50256'],
    ['a user that is no string', { ...REQUEST, user: 5 }, 'user'],
    ['top_logprobs without logprobs', { ...REQUEST, top_logprobs: 3 }, 'top_logprobs'],
    // OpenAI features no node gives: refused, not answered with plain text as if honoured.
    ['audio output', { ...REQUEST, modalities: ['text', 'audio'] }, 'modalities.1'],
    ['an audio voice', { ...REQUEST, audio: { voice: 'alloy', format: 'mp3' } }, 'audio'],
    ['a predicted output', { ...REQUEST, prediction: { type: 'content', content: 'x' } }, 'prediction'],
    ['web search', { ...REQUEST, web_search_options: {} }, 'web_search_options'],
    ['legacy functions', { ...REQUEST, functions: [{ name: 'f' }] }, 'functions'],
    ['a stored completion', { ...REQUEST, store: true }, 'store'],
  ])('answers 400 invalid_request_error naming the param for %s', async (_what, body, param) => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const err = await failure(client(c.childKey).chat.completions.create(body as never));
    expect([err.status, err.type, err.param]).toEqual([400, 'invalid_request_error', param]);
    // Refused before admission: nothing was held.
    expect((await accountView(stack.server.url, c.jwt)).held_ngonka).toBe('0');
  });

  it('says what is wrong with stop, whichever way it is wrong', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (const [stop, message] of [
      [['a', 'b', 'c', 'd', 'e'], 'stop: must hold at most 4 stop sequences'],
      [5, 'stop: must be a string or an array of strings'],
    ] as const) {
      const err = await failure(client(c.childKey).chat.completions.create({ ...REQUEST, stop } as never));
      expect(err.message).toContain(message);
    }
  });
});

describe('fields the gateway does not check', () => {
  it('passes vLLM’s own sampling fields, an assistant’s tool call without content and tools through', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await client(c.childKey).chat.completions.create({
      ...REQUEST,
      messages: [
        ...MESSAGES,
        {
          role: 'assistant',
          tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 't1', content: '42' },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'auto',
      response_format: { type: 'text' },
      top_k: 40,
      min_p: 0.05,
    } as never);
    expect(res.choices[0]?.message.content).toMatch(/\w+/);
  });
});

describe('white-label', () => {
  it('names neither the network, a node nor an address in any /v1 answer above', async () => {
    // The answers recorded by every test of this file, successes and each kind of refusal.
    const statuses = new Set(seen.map((s) => s.status));
    for (const status of [200, 400, 401, 402, 403, 429]) expect(statuses).toContain(status);
    expect(simulateCompletion(MESSAGES, MAX_TOKENS).words.join(' ')).not.toMatch(/gonka/i);
    expectWhiteLabelled(seenTexts(seen), stack.sim);
  });
});
