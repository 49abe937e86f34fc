import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/**
 * The api serves POST /v1/chat/completions and POST /v1/jobs without Express (api/fast-v1.ts). Its
 * answers must be Express's: every request here goes to both the api server and the bare Express
 * app over the same stack, and status, body and headers must match.
 */
let stack: TestStack;
let expressUrl: string;
let close: () => void;
let c: Customer;

beforeAll(async () => {
  stack = await startTestStack({ workers: false });
  const server = createApp(stack.env.ctx, stack.deps).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => {
    server.closeAllConnections();
    server.close();
  };
  c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 10n, child: { rate_limit_rpm: 100 } });
});
afterAll(async () => {
  close?.();
  await stack?.close();
});

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string | null>;
}

async function ask(base: string, path: string, init: RequestInit): Promise<Answer> {
  const res = await fetch(base + path, init);
  const text = await res.text();
  const headers: Record<string, string | null> = {};
  for (const h of [
    'content-type',
    'retry-after',
    'x-ratelimit-limit-requests',
    'x-ratelimit-remaining-requests',
  ])
    headers[h] = res.headers.get(h);
  // Request ids differ per request by design; everything else must not.
  return {
    status: res.status,
    body: JSON.parse(text.replaceAll(/request [\w-]+\)/g, 'request …)')),
    headers,
  };
}

const json = { 'content-type': 'application/json' };
const model = SIM_MODEL_QWEN3_235B;
const cases: [string, string, () => RequestInit][] = [
  ['malformed JSON', '/v1/jobs', () => ({ headers: json, body: '{"request": ' })],
  ['a JSON string instead of an object', '/v1/chat/completions', () => ({ headers: json, body: '"hi"' })],
  ['an empty body', '/v1/jobs', () => ({ headers: json, body: '' })],
  ['a body over 4 MB', '/v1/jobs', () => ({ headers: json, body: `{"x":"${'a'.repeat(4_300_000)}"}` })],
  ['no API key', '/v1/chat/completions', () => ({ headers: json, body: '{}' })],
  [
    'a management key',
    '/v1/jobs',
    () => ({ headers: { ...json, authorization: `Bearer ${c.mkKey}` }, body: '{}' }),
  ],
  ['an unknown field', '/v1/jobs', () => auth({ request: { model, messages: [] }, extra: 1 })],
  [
    'an unknown model',
    '/v1/chat/completions',
    () => auth({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
  ],
  ['no money', '/V1/Jobs/', () => auth({ request: { model, messages: [{ role: 'user', content: 'x' }] } })],
  ['text/plain', '/v1/chat/completions', () => ({ headers: { 'content-type': 'text/plain' }, body: '{}' })],
  ['malformed JSON from a key', '/v1/chat/completions', () => ({ ...auth({}), body: '{"model": ' })],
  [
    'malformed JSON from an unknown key',
    '/v1/jobs',
    () => ({ headers: { ...json, authorization: 'Bearer gc-nope' }, body: '{' }),
  ],
  [
    'text/plain from a key',
    '/v1/jobs',
    () => ({ headers: { 'content-type': 'text/plain', authorization: `Bearer ${c.childKey}` }, body: '{}' }),
  ],
  [
    'a NUL in a message',
    '/v1/chat/completions',
    () => auth({ model, messages: [{ role: 'user', content: '\u0000' }] }),
  ],
  [
    'a NUL in the query',
    '/v1/chat/completions?x=%00',
    () => auth({ model, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 }),
  ],
  ['a NUL in the path', '/v1/jobs%00', () => auth({ request: { model, messages: [] } })],
  ['a byte-order mark', '/v1/jobs', () => ({ headers: json, body: '\uFEFF{"request": {}}' })],
  [
    'bytes that are not UTF-8 (Latin-1 é)',
    '/v1/chat/completions',
    () => ({
      ...auth({}),
      body: Buffer.concat([
        Buffer.from(`{"model":"${model}","messages":[{"role":"user","content":"caf`),
        Buffer.from([0xe9]),
        Buffer.from('"}]}'),
      ]),
    }),
  ],
  ['a body nesting 5,000 deep', '/v1/chat/completions', () => ({ ...auth({}), body: deep(5000) })],
  // Unclosed: too deep (found on the bytes, before parsing), not malformed.
  ['an unclosed run of brackets', '/v1/jobs', () => ({ ...auth({}), body: '['.repeat(100_000) })],
  ...(['gzip', 'deflate', 'br'] as const).map((encoding): [string, string, () => RequestInit] => [
    `a body that is not valid ${encoding}, from a key`,
    '/v1/chat/completions',
    () => {
      const init = auth({});
      return {
        ...init,
        headers: { ...(init.headers as Record<string, string>), 'content-encoding': encoding },
        body: encoding === 'br' ? '{}' : 'garbage',
      };
    },
  ]),
  [
    'an over-long Idempotency-Key',
    '/v1/jobs',
    () => {
      const init = auth({ request: { model, messages: [{ role: 'user', content: 'x' }] } });
      return {
        ...init,
        headers: { ...(init.headers as Record<string, string>), 'idempotency-key': 'k'.repeat(256) },
      };
    },
  ],
];
/** A chat body whose response_format nests `levels` arrays deep. */
const deep = (levels: number) =>
  `{"model":"${model}","messages":[{"role":"user","content":"x"}],"response_format":${'['.repeat(levels)}${']'.repeat(levels)}}`;
function auth(body: unknown): RequestInit {
  return { headers: { ...json, authorization: `Bearer ${c.childKey}` }, body: JSON.stringify(body) };
}

describe('the /v1 fast path', () => {
  it.each(cases)('answers %s exactly as Express does', async (_name, path, init) => {
    const fast = await ask(stack.server.url, path, { method: 'POST', ...init() });
    const slow = await ask(expressUrl, path, { method: 'POST', ...init() });
    expect(fast.status).toBeGreaterThanOrEqual(400);
    expect(fast).toEqual(slow);
  });

  it('refuses bytes that are not UTF-8 with a 400, not a U+FFFD in their place', async () => {
    const init = cases.find(([name]) => name.startsWith('bytes that are not UTF-8'))![2];
    const answer = await ask(stack.server.url, '/v1/chat/completions', { method: 'POST', ...init() });
    expect([answer.status, (answer.body as { error: { message: string } }).error.message]).toEqual([
      400,
      'The body is not valid UTF-8 (JSON is UTF-8: RFC 8259)',
    ]);
  });

  it("answers a key's body fault after the key: a 401 for an unknown key, the RPM headers for a known one", async () => {
    for (const base of [stack.server.url, expressUrl]) {
      const known = await ask(base, '/v1/jobs', { method: 'POST', ...auth({}), body: '{"request": ' });
      expect(known.status).toBe(400);
      expect(known.headers['x-ratelimit-limit-requests']).toBe('100');
      const unknown = await ask(base, '/v1/jobs', {
        method: 'POST',
        headers: { ...json, authorization: 'Bearer gc-nope' },
        body: '{"request": ',
      });
      expect(unknown.status).toBe(401);
    }
  });

  it('refuses a body nesting past 64 levels with a 400, where it used to be a 500', async () => {
    for (const path of ['/v1/chat/completions', '/v1/jobs']) {
      const res = await ask(stack.server.url, path, { method: 'POST', ...auth({}), body: deep(5000) });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: {
          type: 'invalid_request_error',
          message: 'The JSON body nests more than 64 levels deep',
          param: null,
        },
      });
    }
  });
});
