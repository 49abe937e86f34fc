import { describe, expect, it } from 'vitest';
import { insertFile } from '../../shared/db/queries/files.js';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { newId } from '../../shared/ids.js';
import { startBatch, startBatchOf } from '../helpers/batches.js';
import {
  openDashboard,
  recordAnnouncements,
  screenshot,
  signedIn,
  useStackAndBrowser,
} from '../helpers/browser.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/** The Jobs & batches page at work: paging through long lists, and cancelling from a row. */
const sb = useStackAndBrowser();

/** The dashboard's page size (PAGE_SIZE in api/dashboard/js/components/paged-table.js). */
const PAGE = 50;

/**
 * Finished jobs and batches of the customer's child key, written straight to Postgres: pages of
 * them in two statements, where sending them through /v1 would run every one. One second apart,
 * oldest first; `failedJobs` of the jobs (every 10th from the newest) failed. Returns the ids
 * newest first, as the lists show them.
 */
async function seedFinished(c: Customer, n: { jobs: number; batches: number; failedJobs: number }) {
  const { sql } = sb.stack.env.ctx;
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

/**
 * With the inference queue paused (so nothing runs yet): a queued job and a batch of `lines` in
 * progress, and the Jobs & batches page signed in as their owner, with the rows of both.
 */
async function waitingWork(c: Customer, lines: number) {
  const job = await call(sb.stack.server.url, 'POST', '/v1/jobs', {
    token: c.childKey,
    body: { request: { model: SIM_MODEL_QWEN3_235B, messages: [{ role: 'user', content: 'Not yet' }] } },
  });
  expect(job.status).toBe(202);
  const jobId = job.body.id as string;
  const batchId = await startBatch(sb.stack.server.url, c.childKey, lines);
  const dash = await openDashboard(sb.browser, sb.stack.server.url);
  const page = await signedIn(dash, c.jwt);
  await page.getByRole('link', { name: 'Jobs & batches' }).click();
  const rowOf = (table: string, id: string) =>
    page.getByRole('table', { name: table }).getByRole('row', { name: new RegExp(id) });
  return { jobId, batchId, dash, page, jobRow: rowOf('Jobs', jobId), batchRow: rowOf('Batches', batchId) };
}

describe('dashboard: the Jobs & batches page', () => {
  it('pages jobs and batches with "Load more", keeping the filters, until the last page', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url);
    // Jobs run to a third page, so the button outlives a press; batches end on their second.
    const seeded = await seedFinished(c, { jobs: 2 * PAGE + 5, batches: PAGE + 5, failedJobs: 3 });
    const jobIds = seeded.jobs.map((j) => j.id);
    const succeeded = seeded.jobs.filter((j) => j.status === 'succeeded').map((j) => j.id);
    expect(succeeded.length).toBe(2 * PAGE + 2);
    const dash = await openDashboard(sb.browser, sb.stack.server.url);
    const page = await signedIn(dash, c.jwt);
    await page.getByRole('link', { name: 'Jobs & batches' }).click();
    await page.getByRole('heading', { name: 'Jobs & batches', level: 1 }).waitFor();

    const rowIds = (caption: string) =>
      page.getByRole('region', { name: caption }).locator('tbody th').allTextContents();
    const status = (await recordAnnouncements(page)).latest;

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
    // A filter nothing matches says so, not that there are no jobs at all.
    await page.getByLabel('Job status').selectOption('expired');
    await expect
      .poll(() => page.locator('.empty').first().textContent())
      .toContain('No jobs match the filters shown');
    await page.getByLabel('Job status').selectOption('succeeded');
    await expect.poll(() => rowIds('Jobs')).toEqual(succeeded.slice(0, PAGE));

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

    // The filters are in the URL: a shared link (or a refresh) opens the page as it was; a value no
    // select offers is dropped. (A tab of its own: leaving a page cuts its requests short.)
    expect(page.url()).toMatch(/#\/jobs\?job_status=succeeded$/);
    const link = page.url();
    await dash.close();
    for (const [url, shown, rows] of [
      [link, 'succeeded', succeeded.slice(0, PAGE)],
      [link.replace('job_status=succeeded', 'job_status=bogus&key_id=ck_gone'), '', jobIds.slice(0, PAGE)],
    ] as const) {
      const tab = await openDashboard(sb.browser, sb.stack.server.url);
      const other = await signedIn(tab, c.jwt);
      await other.goto(url);
      const ids = () => other.getByRole('region', { name: 'Jobs' }).locator('tbody th').allTextContents();
      await expect.poll(ids).toEqual(rows);
      expect(await other.getByLabel('Job status').inputValue()).toBe(shown);
      // And the URL no longer carries what was dropped.
      expect(new URL(other.url()).hash).toBe(shown ? `#/jobs?job_status=${shown}` : '#/jobs');
      expect(tab.problems).toEqual([]);
      await tab.close();
    }
  });

  it('cancels a queued job and a batch from their rows, after asking', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url);
    // Nothing reaches a node meanwhile: the job stays queued, the batch's lines too.
    const inference = sb.stack.deps.queues.get('inference');
    await inference.pause();
    try {
      const { jobId, batchId, dash, page, jobRow, batchRow } = await waitingWork(c, 3);
      await expect.poll(() => jobRow.textContent()).toMatch(/queued/i);
      await page.getByRole('button', { name: `Cancel job ${jobId}` }).click();
      const ask = page.getByRole('dialog', { name: 'Cancel this job?' });
      // Dismissing changes nothing.
      await ask.getByRole('button', { name: 'Keep the job' }).click();
      await ask.waitFor({ state: 'detached' });
      await page.getByRole('button', { name: `Cancel job ${jobId}` }).click();
      await page
        .getByRole('dialog', { name: 'Cancel this job?' })
        .getByRole('button', { name: 'Cancel job' })
        .click();
      await expect.poll(() => jobRow.textContent()).toMatch(/cancelled/i);
      await page.getByRole('button', { name: `Cancel job ${jobId}` }).waitFor({ state: 'detached' });

      await expect.poll(() => batchRow.textContent()).toMatch(/in progress/i);
      await page.getByRole('button', { name: `Cancel batch ${batchId}` }).click();
      await page
        .getByRole('dialog', { name: 'Cancel this batch?' })
        .getByRole('button', { name: 'Cancel batch' })
        .click();
      await expect.poll(() => batchRow.textContent()).toMatch(/cancell(ing|ed)/i);
      // None of its lines ran: the row says so, as its error file does.
      await expect.poll(() => batchRow.textContent()).toMatch(/0 done, 0 failed, 3 cancelled of 3/);
      // Its lines not run are in its error file, listed at once.
      await page
        .getByRole('table', { name: 'Files' })
        .getByRole('row', { name: new RegExp(`${batchId}_error`) })
        .waitFor();
      await screenshot(page, 'jobs-cancelled');

      const seen = await fetch(`${sb.stack.server.url}/v1/jobs/${jobId}`, {
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

  it('says why a batch failed on its row, as a failed job says', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url);
    const ask = { model: 'nope/model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 };
    const batchId = await startBatchOf(sb.stack.server.url, c.childKey, [ask, ask]);
    const failed = await waitFor('batch failed', async () => {
      const b = await call(sb.stack.server.url, 'GET', `/v1/batches/${batchId}`, { token: c.childKey });
      return b.body.status === 'failed' ? b.body : null;
    });
    const why = failed.errors.data[0].message as string;
    expect(why).toMatch(/does not exist/);
    const dash = await openDashboard(sb.browser, sb.stack.server.url);
    const page = await signedIn(dash, c.jwt);
    await page.getByRole('link', { name: 'Jobs & batches' }).click();
    const row = page.getByRole('table', { name: 'Batches' }).getByRole('row', { name: new RegExp(batchId) });
    await expect.poll(() => row.textContent()).toContain(why);
    expect(dash.problems).toEqual([]);
    await dash.close();
  });

  it('says a job ended before it could be cancelled when it finished while the dialog was open', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url);
    const inference = sb.stack.deps.queues.get('inference');
    await inference.pause();
    let resumed = false;
    try {
      const { jobId, dash, page, jobRow } = await waitingWork(c, 1);
      await expect.poll(() => jobRow.textContent()).toMatch(/queued/i);
      await page.getByRole('button', { name: `Cancel job ${jobId}` }).click();
      const ask = page.getByRole('dialog', { name: 'Cancel this job?' });
      await ask.waitFor();
      const announced = await recordAnnouncements(page);
      // The job runs to its end while the owner reads the question.
      await inference.resume();
      resumed = true;
      await waitFor('job succeeded', async () => {
        const j = await call(sb.stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey });
        return j.body.status === 'succeeded';
      });
      await ask.getByRole('button', { name: 'Cancel job' }).click();
      // (Its batch's end may be announced after it: the page follows runs live.)
      await expect
        .poll(announced.all)
        .toContain('The job had already ended (succeeded) before it could be cancelled.');
      await expect.poll(() => jobRow.textContent()).toMatch(/succeeded/i);
      expect(dash.problems).toEqual([]);
      await dash.close();
    } finally {
      if (!resumed) await inference.resume();
    }
  });

  it('follows a queued job and a running batch to their end, and shows a job sent since, without a reload', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url);
    const inference = sb.stack.deps.queues.get('inference');
    await inference.pause();
    let resumed = false;
    try {
      const { jobId, batchId, dash, page, jobRow, batchRow } = await waitingWork(c, 2);
      await expect.poll(() => jobRow.textContent()).toMatch(/queued/i);
      await expect.poll(() => batchRow.textContent()).toMatch(/in progress/i);
      // Focus on the job's Cancel button: the row is redrawn under it.
      await page.getByRole('button', { name: `Cancel job ${jobId}` }).focus();
      // A job sent after the page opened comes on top of the list.
      const later = await call(sb.stack.server.url, 'POST', '/v1/jobs', {
        token: c.childKey,
        body: { request: { model: SIM_MODEL_QWEN3_235B, messages: [{ role: 'user', content: 'Since' }] } },
      });
      const jobIds = () => page.getByRole('table', { name: 'Jobs' }).locator('tbody th').allTextContents();
      await expect.poll(jobIds, { timeout: 10_000 }).toEqual([later.body.id, jobId]);
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(
        `Cancel job ${jobId}`,
      );

      // A failure shown on the page stays through the live rounds' news; only an action clears it.
      await page.evaluate(() => {
        document.getElementById('alert')!.textContent = 'An earlier download failed.';
      });
      await inference.resume();
      resumed = true;
      await expect.poll(() => jobRow.textContent(), { timeout: 15_000 }).toMatch(/succeeded/i);
      expect(await page.locator('#alert').textContent()).toBe('An earlier download failed.');
      await expect
        .poll(() => page.getByRole('row', { name: new RegExp(later.body.id) }).textContent())
        .toMatch(/succeeded/i);
      await expect.poll(() => batchRow.textContent(), { timeout: 15_000 }).toMatch(/completed.*2 done/i);
      // Cancel is gone with the running job; focus went to the row's header, not to the page top.
      expect(
        await page.evaluate(() => ({
          tag: document.activeElement?.tagName,
          text: document.activeElement?.textContent?.trim(),
        })),
      ).toEqual({ tag: 'TH', text: jobId });
      // The batch's output file is listed as it appears.
      await page
        .getByRole('table', { name: 'Files' })
        .getByRole('row', { name: new RegExp(`${batchId}_output`) })
        .waitFor();
      await screenshot(page, 'jobs-followed');
      expect(dash.problems).toEqual([]);
      expect(dash.httpFailures).toEqual([]);
      await dash.close();
    } finally {
      if (!resumed) await inference.resume();
    }
  });
});
