import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/**
 * /v1 from a browser app on another origin: Chromium itself enforces CORS here (the preflight, the
 * headers a script may read), so what passes is what a customer's web page can do with a child key.
 */
let stack: TestStack;
let browser: Browser;
let site: Server;
let siteUrl: string;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startTestStack(), launchBrowser()]);
  // Another origin (another port): a customer's own web app.
  site = createServer((_req, res) => res.end('<!doctype html><title>app</title>'));
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => site?.close(r));
  await stack?.close();
});

const chat = { model: SIM_MODEL_QWEN3_235B, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8 };

/** fetch() run in a page of the customer's site; a request the browser blocks answers `blocked`. */
async function fromSite(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) {
  const page = await browser.newPage();
  try {
    await page.goto(siteUrl);
    return await page.evaluate(
      async ({ url, init }) => {
        try {
          const r = await fetch(url, init);
          return {
            status: r.status,
            remaining: r.headers.get('x-ratelimit-remaining-requests'),
            requestId: r.headers.get('x-request-id'),
            body: await r.json(),
          };
        } catch {
          return 'blocked' as const;
        }
      },
      { url, init },
    );
  } finally {
    await page.close();
  }
}

describe('/v1 across origins', () => {
  it('serves a page on another origin: chat, jobs and refusals, with the headers it may read', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 100 } });
    const auth = { authorization: `Bearer ${c.childKey}`, 'content-type': 'application/json' };

    const completion = await fromSite(`${stack.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(chat),
    });
    expect(completion).toMatchObject({ status: 200, remaining: '99', body: { object: 'chat.completion' } });
    expect(completion !== 'blocked' && completion.requestId).toBeTruthy();

    // An Idempotency-Key is a header the preflight must allow, and so are those the official openai
    // client sends from a browser.
    const job = await fromSite(`${stack.server.url}/v1/jobs`, {
      method: 'POST',
      headers: {
        ...auth,
        'idempotency-key': 'order-1',
        'x-stainless-lang': 'js',
        'x-stainless-retry-count': '0',
        'openai-project': 'proj_1',
      },
      body: JSON.stringify({ request: chat }),
    });
    expect(job).toMatchObject({ status: 202, body: { object: 'job', status: 'queued' } });

    const models = await fromSite(`${stack.server.url}/v1/models`, { method: 'GET', headers: auth });
    expect(models).toMatchObject({ status: 200, body: { object: 'list' } });

    // Errors are readable too: a malformed body, and a refusal for money.
    const malformed = await fromSite(`${stack.server.url}/v1/jobs`, {
      method: 'POST',
      headers: auth,
      body: '{',
    });
    expect(malformed).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error' } } });
    const capped = await createCustomer(stack.env.ctx, stack.server.url, {
      child: { limit_daily_ngonka: '0' },
    });
    const refused = await fromSite(`${stack.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, authorization: `Bearer ${capped.childKey}` },
      body: JSON.stringify(chat),
    });
    expect(refused).toMatchObject({ status: 402, body: { error: { type: 'child_key_limit' } } });

    // DELETE /v1/files/:id is a method the preflight must allow (a missing file's 404 is readable).
    const deleted = await fromSite(`${stack.server.url}/v1/files/file_doesnotexist0`, {
      method: 'DELETE',
      headers: { authorization: auth.authorization },
    });
    expect(deleted).toMatchObject({ status: 404, body: { error: { type: 'not_found' } } });
  });

  it('keeps the owner API to the dashboard: another origin cannot read it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const account = await fromSite(`${stack.server.url}/api/account`, {
      method: 'GET',
      headers: { authorization: `Bearer ${c.jwt}` },
    });
    expect(account).toBe('blocked');
  });

  it('answers a preflight for /v1 with what it allows', async () => {
    const res = await fetch(`${stack.server.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
