import { beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

/**
 * Text Postgres cannot hold — a NUL character, half of a surrogate pair — and URLs that do not
 * decode are a 400 naming the field, wherever they come in; never a 500 from the store.
 */
const stack = useTestStack({ workers: false });
let c: Customer;
beforeAll(async () => {
  c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 1000 } });
});

const chat = (content: string) => ({
  model: SIM_MODEL_QWEN3_235B,
  messages: [{ role: 'user', content }],
  max_tokens: 5,
});

function expect400(r: { status: number; body: any }, param: string | null) {
  expect(r.status).toBe(400);
  expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param });
}

describe('in a JSON body', () => {
  it('refuses a NUL or a lone surrogate in a job, naming the field, and holds nothing', async () => {
    const url = stack.server.url;
    const nul = await call(url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: chat('hi'), metadata: { order: 'x\u0000y' } },
    });
    expect400(nul, 'metadata.order');
    const half = await call(url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: chat('a\ud800b') },
    });
    expect400(half, 'request.messages.0.content');
    const key = await call(url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: chat('hi'), metadata: { 'o\u0000': 'x' } },
    });
    expect400(key, 'metadata');
    const account = await call(url, 'GET', '/api/account', { token: c.jwt });
    expect(account.body.held_ngonka).toBe('0');

    // A whole surrogate pair (an emoji) is ordinary text.
    const emoji = await call(url, 'POST', '/v1/jobs', {
      token: c.childKey,
      body: { request: chat('rivers 🌊') },
    });
    expect(emoji.status).toBe(202);
  });

  it('refuses them in sync chat, in a key name and in a webhook URL', async () => {
    const url = stack.server.url;
    expect400(
      await call(url, 'POST', '/v1/chat/completions', { token: c.childKey, body: chat('\u0000') }),
      'messages.0.content',
    );
    expect400(
      await call(url, 'POST', '/api/management/keys', { token: c.jwt, body: { name: 'a\u0000b' } }),
      'name',
    );
    expect400(
      await call(url, 'POST', `/api/management/keys/${c.mkId}/children`, {
        token: c.mkKey,
        body: { name: 'client', metadata: { note: '\udc00' } },
      }),
      'metadata.note',
    );
    expect400(
      await call(url, 'POST', '/api/webhooks', {
        token: c.jwt,
        body: { url: 'https://example.com/\u0000', events: ['job.succeeded'] },
      }),
      'url',
    );
  });
});

describe('in a URL', () => {
  it('refuses a NUL in an id or a list filter, naming the filter', async () => {
    const url = stack.server.url;
    expect400(await call(url, 'GET', '/v1/jobs/job_%00', { token: c.childKey }), null);
    expect400(await call(url, 'GET', '/v1/files/file_%00/content', { token: c.childKey }), null);
    expect400(await call(url, 'GET', '/v1/batches?after=b%00', { token: c.childKey }), 'after');
    expect400(await call(url, 'GET', `/api/management/keys/${c.mkId}%00`, { token: c.jwt }), null);
    expect400(await call(url, 'GET', '/api/jobs?key_id=k%00', { token: c.jwt }), 'key_id');
  });

  it('refuses a path that is not percent-encoded UTF-8', async () => {
    expect400(await call(stack.server.url, 'GET', '/v1/jobs/%FF', { token: c.childKey }), null);
    expect400(await call(stack.server.url, 'GET', '/api/management/keys/%ED%A0%80', { token: c.jwt }), null);
  });
});

describe('in a batch input file', () => {
  it('refuses a line holding a NUL, naming the line and the field', async () => {
    const line = (content: string) =>
      JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: chat(content) });
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([`${line('fine')}\n${line('x\u0000')}\n`]), 'in.jsonl');
    const res = await fetch(`${stack.server.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.childKey}` },
      body: form,
    });
    const body = (await res.json()) as any;
    expect(res.status).toBe(400);
    expect(body.error.param).toBe('file');
    expect(body.error.message).toMatch(/^Line 2: body\.messages\.0\.content: .*NUL/);
  });

  it('refuses a file name holding a NUL', async () => {
    const boundary = 'nul-boundary';
    const line = JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: chat('hi'),
    });
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''in%00.jsonl\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n${line}\r\n--${boundary}--\r\n`;
    const res = await fetch(`${stack.server.url}/v1/files`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${c.childKey}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
      body,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ type: 'invalid_request_error', param: 'file' });
  });
});
