import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertFile } from '../../shared/db/queries/files.js';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { newId } from '../../shared/ids.js';
import { startBatch } from '../helpers/batches.js';
import { type DashboardPage, launchBrowser, openDashboard, screenshot } from '../helpers/browser.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
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

/** The session token of an account made over HTTP, put in the tab as the login page would. */
async function signedIn(dash: DashboardPage, jwt: string): Promise<Page> {
  const { page } = dash;
  await page.goto('/dashboard/');
  await page.evaluate((t) => sessionStorage.setItem('gonka-gateway.session', t), jwt);
  await page.goto('/dashboard/#/overview');
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  return page;
}

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

/** The dashboard's page size (PAGE_SIZE in api/dashboard/js/components/paged-table.js). */
const PAGE = 50;

/**
 * Finished jobs and batches of the customer's child key, written straight to Postgres: pages of
 * them in two statements, where sending them through /v1 would run every one. One second apart,
 * oldest first; `failedJobs` of the jobs (every 10th from the newest) failed. Returns the ids
 * newest first, as the lists show them.
 */
async function seedFinished(c: Customer, n: { jobs: number; batches: number; failedJobs: number }) {
  const { sql } = stack.env.ctx;
  const t0 = Date.now() - 3_600_000;
  const at = (i: number) => new Date(t0 + i * 1000);
  const file = await insertFile(sql, {
    id: newId('file'),
    accountId: c.accountId,
    managementKeyId: c.mkId,
    purpose: 'batch',
    filename: 'in.jsonl',
    bytes: 3,
    lineCount: 1,
    createdAt: at(0),
  });
  const owner = { account_id: c.accountId, management_key_id: c.mkId, child_key_id: c.childId };
  const failed = (newest: number) => newest % 10 === 0 && newest / 10 < n.failedJobs;
  const jobs = Array.from({ length: n.jobs }, (_, i) => ({
    ...owner,
    id: newId('job'),
    status: failed(n.jobs - 1 - i) ? 'failed' : 'succeeded',
    model: SIM_MODEL_QWEN3_235B,
    request: sql.json({}),
    created_at: at(i),
    completed_at: at(i),
  }));
  const batches = Array.from({ length: n.batches }, (_, i) => ({
    ...owner,
    id: newId('batch'),
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    status: 'completed',
    created_at: at(i),
    completed_at: at(i),
    expires_at: new Date(at(i).getTime() + 86_400_000),
  }));
  await sql`insert into jobs ${sql(jobs)}`;
  await sql`insert into batches ${sql(batches)}`;
  return {
    jobs: jobs.map((j) => ({ id: j.id, status: j.status })).reverse(),
    batches: batches.map((b) => b.id).reverse(),
  };
}

describe('dashboard: jobs, batches, webhooks and sign-in', () => {
  it('adds a webhook endpoint, lists jobs and batches, and shows the delivery of a job event', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 10_000_000_000n });
    const dash = await openDashboard(browser, stack.server.url);
    const page = await signedIn(dash, c.jwt);

    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText('No endpoints yet', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const form = page.getByRole('dialog', { name: 'Add webhook endpoint' });
    await form.getByLabel('Endpoint URL').fill(receiverUrl);
    // No event chosen: the API's `events` error lands on the event group.
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

    await page.getByRole('button', { name: `Delivery log of ${receiverUrl}` }).click();
    const log = page.getByRole('dialog', { name: /Deliveries to/ });
    const delivery = log.getByRole('row', { name: /job\.succeeded/ });
    await expect.poll(() => delivery.textContent()).toMatch(/succeeded[\s\S]*HTTP 200/i);
    await screenshot(page, 'webhook-deliveries');
    await page.keyboard.press('Escape');
    await screenshot(page, 'webhooks');

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
    await page.getByText('No jobs to show', { exact: false }).waitFor();
    await page.getByLabel('Job status').selectOption('');
    await jobRow.waitFor();

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
    expect(dash.httpFailures.map((f) => `${f.status} ${f.method} ${f.path}`)).toEqual([
      '400 POST /api/webhooks',
    ]);
    await dash.close();
  });

  it('pages jobs and batches with "Load more", keeping the filters, until the last page', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // Jobs run to a third page, so the button outlives a press; batches end on their second.
    const seeded = await seedFinished(c, { jobs: 2 * PAGE + 5, batches: PAGE + 5, failedJobs: 3 });
    const jobIds = seeded.jobs.map((j) => j.id);
    const succeeded = seeded.jobs.filter((j) => j.status === 'succeeded').map((j) => j.id);
    expect(succeeded.length).toBe(2 * PAGE + 2);
    const dash = await openDashboard(browser, stack.server.url);
    const page = await signedIn(dash, c.jwt);
    await page.getByRole('link', { name: 'Jobs & batches' }).click();
    await page.getByRole('heading', { name: 'Jobs & batches', level: 1 }).waitFor();

    const rowIds = (caption: string) =>
      page.getByRole('region', { name: caption }).locator('tbody th').allTextContents();
    // Every message of the polite live region, since each is cleared again after a while.
    await page.evaluate(() => {
      const w = window as unknown as { announced: string[] };
      w.announced = [];
      const region = document.getElementById('status')!;
      new MutationObserver(() => {
        if (region.textContent) w.announced.push(region.textContent);
      }).observe(region, { childList: true, characterData: true, subtree: true });
    });
    const status = () =>
      page.evaluate(() => (window as unknown as { announced: string[] }).announced.at(-1) ?? '');

    // Jobs, by keyboard: focus stays on the button while pages follow; it goes with the last page,
    // and focus moves to the first row that page added.
    const moreJobs = page.getByRole('button', { name: 'Load more jobs' });
    const focused = () => page.evaluate(() => document.activeElement?.textContent);
    await expect.poll(() => rowIds('Jobs')).toEqual(jobIds.slice(0, PAGE));
    await screenshot(page, 'jobs-paged');
    await moreJobs.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => rowIds('Jobs')).toEqual(jobIds.slice(0, 2 * PAGE));
    await expect.poll(status).toBe('50 more jobs loaded, 100 shown.');
    await expect.poll(focused).toBe('Load more jobs');
    await page.keyboard.press('Enter');
    await expect.poll(() => rowIds('Jobs')).toEqual(jobIds);
    await moreJobs.waitFor({ state: 'hidden' });
    await expect.poll(status).toBe('5 more jobs loaded. All 105 jobs are shown.');
    expect(await focused()).toBe(jobIds[2 * PAGE]);

    // A filter starts the list over, and the next pages keep it.
    await page.getByLabel('Job status').selectOption('succeeded');
    await expect.poll(() => rowIds('Jobs')).toEqual(succeeded.slice(0, PAGE));
    await moreJobs.click();
    await expect.poll(() => rowIds('Jobs')).toEqual(succeeded.slice(0, 2 * PAGE));
    await moreJobs.click();
    await expect.poll(() => rowIds('Jobs')).toEqual(succeeded);
    await moreJobs.waitFor({ state: 'hidden' });
    await expect.poll(status).toBe('2 more jobs loaded. All 102 jobs are shown.');
    // The batches were not filtered, so they were not reloaded.
    expect(await rowIds('Batches')).toEqual(seeded.batches.slice(0, PAGE));

    // Batches: the button is disabled while its page loads, so a second press asks nothing twice.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const nextPages: string[] = [];
    await page.route(/\/api\/batches\?.*after=/, async (route) => {
      nextPages.push(route.request().url());
      await held;
      await route.continue();
    });
    const moreBatches = page.getByRole('button', { name: 'Load more batches' });
    await moreBatches.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => moreBatches.isDisabled()).toBe(true);
    await page.keyboard.press('Enter');
    release();
    await expect.poll(() => rowIds('Batches')).toEqual(seeded.batches);
    await moreBatches.waitFor({ state: 'hidden' });
    await expect.poll(status).toBe('5 more batches loaded. All 55 batches are shown.');
    expect(nextPages).toHaveLength(1);
    expect(new URL(nextPages[0]!).searchParams.get('after')).toBe(seeded.batches[PAGE - 1]);

    expect(dash.problems).toEqual([]);
    expect(dash.httpFailures).toEqual([]);
    await dash.close();
  });

  it('cancels a queued job and a batch from their rows, after asking', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // Nothing reaches a node meanwhile: the job stays queued, the batch's lines too.
    const inference = stack.deps.queues.get('inference');
    await inference.pause();
    try {
      const job = await v1(c.childKey, '/jobs', { request: chatRequest('Never to run') });
      expect(job.status).toBe(202);
      const batchId = await startBatch(stack.server.url, c.childKey, 3);
      const dash = await openDashboard(browser, stack.server.url);
      const page = await signedIn(dash, c.jwt);
      await page.getByRole('link', { name: 'Jobs & batches' }).click();

      const jobRow = page
        .getByRole('table', { name: 'Jobs' })
        .getByRole('row', { name: new RegExp(job.body.id) });
      await expect.poll(() => jobRow.textContent()).toMatch(/queued/i);
      await page.getByRole('button', { name: `Cancel job ${job.body.id}` }).click();
      const ask = page.getByRole('dialog', { name: 'Cancel this job?' });
      // Dismissing changes nothing.
      await ask.getByRole('button', { name: 'Keep the job' }).click();
      await ask.waitFor({ state: 'detached' });
      await page.getByRole('button', { name: `Cancel job ${job.body.id}` }).click();
      await page
        .getByRole('dialog', { name: 'Cancel this job?' })
        .getByRole('button', { name: 'Cancel job' })
        .click();
      await expect.poll(() => jobRow.textContent()).toMatch(/cancelled/i);
      await page.getByRole('button', { name: `Cancel job ${job.body.id}` }).waitFor({ state: 'detached' });

      const batchRow = page
        .getByRole('table', { name: 'Batches' })
        .getByRole('row', { name: new RegExp(batchId) });
      await expect.poll(() => batchRow.textContent()).toMatch(/in progress/i);
      await page.getByRole('button', { name: `Cancel batch ${batchId}` }).click();
      await page
        .getByRole('dialog', { name: 'Cancel this batch?' })
        .getByRole('button', { name: 'Cancel batch' })
        .click();
      await expect.poll(() => batchRow.textContent()).toMatch(/cancell(ing|ed)/i);
      // Its lines not run are in its error file, listed at once.
      await page
        .getByRole('table', { name: 'Files' })
        .getByRole('row', { name: new RegExp(`${batchId}_error`) })
        .waitFor();
      await screenshot(page, 'jobs-cancelled');

      const seen = await fetch(`${stack.server.url}/v1/jobs/${job.body.id}`, {
        headers: { authorization: `Bearer ${c.childKey}` },
      });
      expect(((await seen.json()) as { status: string }).status).toBe('cancelled');
      expect(dash.problems).toEqual([]);
      expect(dash.httpFailures).toEqual([]);
      await dash.close();
    } finally {
      await inference.resume();
    }
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

  it('logs out and back in; a stale session sends the user to the login page', async () => {
    const dash = await openDashboard(browser, stack.server.url);
    const { page } = dash;
    const email = `login-${Date.now()}@example.com`;
    await page.goto('/dashboard');
    await page.getByRole('link', { name: 'Create an account' }).click();
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

    await page.evaluate(() => sessionStorage.setItem('gonka-gateway.session', 'not-a-jwt'));
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'Log in', level: 1 }).waitFor();
    await expect.poll(() => page.locator('#alert').textContent()).toMatch(/session has ended/);

    expect(dash.problems).toEqual([]);
    // The header's account lookup and the page's own request both meet the stale token.
    expect(dash.httpFailures.map((f) => `${f.status} ${f.method} ${f.path}`).sort()).toEqual([
      '401 GET /api/account',
      '401 GET /api/management/keys',
      '401 POST /api/auth/login',
    ]);
    await dash.close();
  });
});
