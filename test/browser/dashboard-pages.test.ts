import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { topup } from '../../shared/ledger/topup.js';
import { launchBrowser, openDashboard, screenshot, signedIn } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: TestStack;
let browser: Browser;
let receiver: Server;
let receiverUrl: string;
const received: string[] = [];

beforeAll(async () => {
  // The webhook receiver is on loopback, which only a test configuration may reach.
  [stack, browser] = await Promise.all([
    startTestStack({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } }),
    launchBrowser(),
  ]);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push(body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await new Promise((r) => receiver?.close(r));
});

async function v1(key: string, path: string, body: unknown | FormData) {
  const form = body instanceof FormData;
  const res = await fetch(`${stack.server.url}/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, ...(form ? {} : { 'content-type': 'application/json' }) },
    body: form ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const chatRequest = (content: string) => ({
  model: SIM_MODEL_QWEN3_235B,
  messages: [{ role: 'user', content }],
  max_tokens: 16,
});

describe('dashboard: webhooks, jobs, batches and files, and sign-in', () => {
  it('adds a webhook endpoint, lists jobs and batches, and shows the delivery of a job event', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 10_000_000_000n });
    const dash = await openDashboard(browser, stack.server.url);
    const page = await signedIn(dash, c.jwt);

    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText('No endpoints yet', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const form = page.getByRole('dialog', { name: 'Add webhook endpoint' });
    // This gateway allows private networks: its hint says http is taken too.
    await form.getByText('https, or http on this gateway.').waitFor();
    await form.getByLabel('Endpoint URL').fill(receiverUrl);
    // No event chosen: the form's `events` error lands on the event group.
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    await expect
      .poll(() => form.locator('fieldset .field-error').textContent())
      .toMatch(/at least one event/);
    await form.getByLabel('A job succeeded (job.succeeded)').check();
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    const reveal = page.getByRole('dialog', { name: 'Webhook endpoint added' });
    expect(await reveal.getByRole('textbox', { name: 'Signing secret' }).inputValue()).toMatch(/^whsec_/);
    await reveal.getByRole('button', { name: 'I have stored the secret' }).click();
    await page.getByRole('row', { name: new RegExp(receiverUrl) }).waitFor();

    // A job and a batch from the child key, then the job's event reaches the receiver.
    const job = await v1(c.childKey, '/jobs', { request: chatRequest('An async hello') });
    expect(job.status).toBe(202);
    const file = new FormData();
    file.set('purpose', 'batch');
    const lines = [1, 2].map((i) =>
      JSON.stringify({
        custom_id: `r${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: chatRequest(`Line ${i}`),
      }),
    );
    file.set('file', new Blob([`${lines.join('\n')}\n`], { type: 'application/jsonl' }), 'input.jsonl');
    const uploaded = await v1(c.childKey, '/files', file);
    expect(uploaded.status).toBe(200);
    const batch = await v1(c.childKey, '/batches', {
      input_file_id: uploaded.body.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(batch.status).toBe(200);
    await waitFor(
      'job.succeeded delivered',
      async () => received.some((b) => b.includes(job.body.id)),
      30_000,
    );

    // As if the receiver had first failed: the delivery's first attempt a 503 (the log's rows are
    // written by the delivery worker; here one is put before the real one).
    const { sql } = stack.env.ctx;
    await waitFor('the attempt logged', async () => {
      const [a] = await sql`
        select count(*)::int as n from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id
        where d.account_id = ${c.accountId} and d.event_type = 'job.succeeded'`;
      return a!.n === 1;
    });
    await sql`
      update webhook_attempts set attempt = attempt + 1
      where delivery_id in (select id from webhook_deliveries where account_id = ${c.accountId} and event_type = 'job.succeeded')`;
    await sql`
      insert into webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, at)
      select id, 1, 503, null, 7, created_at from webhook_deliveries
      where account_id = ${c.accountId} and event_type = 'job.succeeded'`;
    await page.getByRole('button', { name: `Delivery log of ${receiverUrl}` }).click();
    const log = page.getByRole('dialog', { name: /Deliveries to/ });
    const delivery = log.getByRole('row', { name: /job\.succeeded/ });
    await expect.poll(() => delivery.textContent()).toMatch(/succeeded[\s\S]*HTTP 200/i);
    await delivery.getByText('All 2 attempts').click();
    expect(await delivery.locator('details li').allTextContents()).toEqual([
      expect.stringMatching(/ · HTTP 503 · 7 ms$/),
      expect.stringMatching(/ · HTTP 200 · \d+ ms$/),
    ]);
    await screenshot(page, 'webhook-deliveries');
    await page.keyboard.press('Escape');
    await screenshot(page, 'webhooks');

    // A job with a webhook_url of its own: its delivery is in the log of job webhook URLs.
    const hooked = await v1(c.childKey, '/jobs', {
      request: chatRequest('Hook this job'),
      webhook_url: receiverUrl,
    });
    expect(hooked.status).toBe(202);
    await waitFor(
      'the job’s own webhook delivered',
      async () => received.some((b) => b.includes(hooked.body.id)),
      30_000,
    );
    // The receiver has it before the delivery worker records its answer; the log shows what is recorded.
    await waitFor('the job’s own delivery recorded', async () => {
      const [d] = await sql`
        select status from webhook_deliveries
        where account_id = ${c.accountId} and endpoint_id is null
          and payload::text like ${`%${hooked.body.id}%`}`;
      return d?.status === 'succeeded';
    });
    await page.getByRole('button', { name: 'Job webhook_url log' }).click();
    const jobLog = page.getByRole('dialog', { name: 'Deliveries to job webhook URLs' });
    const hookedRow = jobLog.getByRole('row', { name: new RegExp(hooked.body.id) });
    await expect.poll(() => hookedRow.textContent()).toMatch(/succeeded[\s\S]*HTTP 200/i);
    expect(await hookedRow.textContent()).toContain(receiverUrl);
    await page.keyboard.press('Escape');
    // The secret those deliveries are signed with is the account's, shown on asking.
    await page.getByRole('button', { name: 'Show signing secret' }).click();
    const secretBox = page.getByRole('dialog', { name: 'Signing secret for webhook_url' });
    const shownSecret = await secretBox.getByRole('textbox', { name: 'Signing secret' }).inputValue();
    const accountSecret = await call(stack.server.url, 'GET', '/api/webhooks/default-secret', {
      token: c.jwt,
    });
    expect(shownSecret).toMatch(/^whsec_/);
    expect(shownSecret).toBe(accountSecret.body.secret);
    await page.keyboard.press('Escape');

    // The page shows what was there when it opened: let the batch finish first.
    await waitFor('the batch completed', async () => {
      const res = await fetch(`${stack.server.url}/v1/batches/${batch.body.id}`, {
        headers: { authorization: `Bearer ${c.childKey}` },
      });
      return ((await res.json()) as { status: string }).status === 'completed';
    });
    await page.getByRole('link', { name: 'Jobs & batches' }).click();
    await page.getByRole('heading', { name: 'Jobs & batches', level: 1 }).waitFor();
    const jobRow = page.getByRole('row', { name: new RegExp(job.body.id) });
    await expect.poll(() => jobRow.textContent()).toMatch(/succeeded[\s\S]*Client A/i);
    // (Its result files, named after it, are listed under Files.)
    await page
      .getByRole('table', { name: 'Batches' })
      .getByRole('row', { name: new RegExp(batch.body.id) })
      .waitFor();
    await page.getByLabel('Job status').selectOption('failed');
    await page.getByText('No jobs match the filters shown', { exact: false }).waitFor();
    await page.getByLabel('Job status').selectOption('');
    await jobRow.waitFor();

    // Its details: what it cost, for how many tokens, and what the model answered.
    const polled = await fetch(`${stack.server.url}/v1/jobs/${job.body.id}`, {
      headers: { authorization: `Bearer ${c.childKey}` },
    });
    const done = (await polled.json()) as any;
    await page.getByRole('button', { name: `Details of job ${job.body.id}` }).click();
    const detail = page.getByRole('dialog', { name: `Job ${job.body.id}` });
    const detailText = await detail.textContent();
    const tokens = done.usage.prompt_tokens + done.usage.completion_tokens;
    expect(detailText).toContain(`${tokens} tokens (${done.usage.prompt_tokens} prompt`);
    expect(detailText).toContain(`(${BigInt(done.cost_ngonka).toLocaleString('en-US')} nGNK)`);
    expect(detailText).toContain(done.result.choices[0].message.content);
    expect(detailText).toContain('Client A');
    await screenshot(page, 'job-detail');
    await page.keyboard.press('Escape');

    // The batch's output, downloaded from its row: a result per line, joined by custom_id.
    const [output] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: `Download the output of ${batch.body.id}` }).click(),
    ]);
    expect(output.suggestedFilename()).toBe(`${batch.body.id}_output.jsonl`);
    const results = (await readFile((await output.path())!, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(results.map((r) => r.custom_id).sort()).toEqual(['r1', 'r2']);
    expect(results.every((r) => r.response.status_code === 200)).toBe(true);

    // The batch's input file, downloaded as it was uploaded, then deleted for good.
    const inputRow = page
      .getByRole('table', { name: 'Files' })
      .getByRole('row', { name: new RegExp(uploaded.body.id) });
    await expect.poll(() => inputRow.textContent()).toMatch(/input\.jsonl[\s\S]*batch input[\s\S]*My SaaS/);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: `Download ${uploaded.body.id}` }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('input.jsonl');
    expect(await readFile((await download.path())!, 'utf8')).toBe(`${lines.join('\n')}\n`);
    await page.getByLabel('File purpose').selectOption('batch_output');
    await inputRow.waitFor({ state: 'detached' });
    await page.getByLabel('File purpose').selectOption('');
    await inputRow.waitFor();
    await screenshot(page, 'jobs');
    await page.getByRole('button', { name: `Delete ${uploaded.body.id}` }).click();
    await page
      .getByRole('dialog', { name: 'Delete this file?' })
      .getByRole('button', { name: 'Delete file' })
      .click();
    await inputRow.waitFor({ state: 'detached' });
    const gone = await fetch(`${stack.server.url}/v1/files/${uploaded.body.id}`, {
      headers: { authorization: `Bearer ${c.childKey}` },
    });
    expect(gone.status).toBe(404);

    expect(dash.problems).toEqual([]);
    // (The form found that no event was chosen itself: nothing was sent for it.)
    expect(dash.httpFailures.map((f) => `${f.status} ${f.method} ${f.path}`)).toEqual([]);
    await dash.close();
  });

  it('pages the ledger on the overview and shows the referral code', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (let i = 1; i <= 11; i++)
      await topup(stack.env.ctx, {
        accountId: c.accountId,
        amount: BigInt(i),
        reference: `page-${c.accountId}-${i}`,
      });
    const dash = await openDashboard(browser, stack.server.url);
    const page = await signedIn(dash, c.jwt);
    const rows = page.getByRole('table', { name: 'Ledger entries, newest first' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(10);
    expect(await rows.first().textContent()).toContain('0.000000011 GNK');
    await page.getByRole('button', { name: 'Load more entries' }).click();
    await expect.poll(() => rows.count()).toBe(12);
    expect(await rows.last().textContent()).toContain('1 GNK (1,000,000,000 nGNK)');
    expect(await page.getByRole('button', { name: 'Load more entries' }).isVisible()).toBe(false);

    const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(await page.getByRole('textbox', { name: 'Your referral code' }).inputValue()).toBe(
      account.body.referral_code,
    );
    expect(dash.problems).toEqual([]);
    expect(dash.httpFailures).toEqual([]);
    await dash.close();
  });

  it('shows listings the server does not serve as empty', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const dash = await openDashboard(browser, stack.server.url);
    const page = await signedIn(dash, c.jwt);
    const missing = {
      status: 404,
      contentType: 'application/json',
      body: '{"error":{"type":"not_found","message":"No route"}}',
    };
    await page.route(/\/api\/(jobs|batches|webhooks)(\?|$)/, (route) => route.fulfill(missing));
    await page.getByRole('link', { name: 'Jobs & batches' }).click();
    await page.getByText('No jobs to show', { exact: false }).waitFor();
    await page.getByText('No batches to show', { exact: false }).waitFor();
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText('No endpoints yet', { exact: false }).waitFor();
    expect(await page.locator('#alert').textContent()).toBe('');

    expect(dash.problems).toEqual([]);
    expect(new Set(dash.httpFailures.map((f) => `${f.status} ${f.path}`))).toEqual(
      new Set(['404 /api/jobs', '404 /api/batches', '404 /api/webhooks']),
    );
    await dash.close();
  });

  it('logs out and back in; a stale session sends the user to log in, then back to the page', async () => {
    const dash = await openDashboard(browser, stack.server.url);
    const { page } = dash;
    const email = `login-${Date.now()}@example.com`;
    // The gateway's bare address, as a newcomer types it: it leads to the dashboard.
    await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/dashboard/');
    await page.getByRole('link', { name: 'Create an account' }).click();
    // Not the log-in form's Email field: the sign-up page renders on the hashchange after the click.
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await screenshot(page, 'signup');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in', level: 1 }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    // Bad credentials name no field: the form's alert says so.
    await expect.poll(() => page.locator('form [role=alert]').textContent()).not.toBe('');
    await screenshot(page, 'login');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();

    // The session ends while a form is open: the form goes with the page, and logging in again
    // leads back to where the user was.
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('button', { name: 'Create management key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create management key' });
    await dialog.getByLabel('Name').fill('After expiry');
    await page.evaluate(() => sessionStorage.setItem('gonka-gateway.session', 'not-a-jwt'));
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: 'Log in', level: 1 }).waitFor();
    await expect
      .poll(() => page.locator('#alert').textContent())
      .toMatch(/session has ended, and the change you were making was not saved/);
    await expect.poll(() => page.locator('dialog').count()).toBe(0);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();

    // Back with a dialog open leaves the dialog behind with its page.
    await page.getByRole('button', { name: 'Create management key' }).click();
    await dialog.waitFor();
    await page.goBack();
    await page.getByRole('heading', { name: 'Log in', level: 1 }).waitFor({ state: 'detached' });
    await expect.poll(() => page.locator('dialog').count()).toBe(0);

    expect(dash.problems).toEqual([]);
    expect(dash.httpFailures.map((f) => `${f.status} ${f.method} ${f.path}`).sort()).toEqual([
      '401 POST /api/auth/login',
      '401 POST /api/management/keys',
    ]);
    await dash.close();
  });
});
