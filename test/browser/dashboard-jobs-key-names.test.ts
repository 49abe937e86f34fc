import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { newId } from '../../shared/ids.js';
import { openDashboard, signedIn, useStackAndBrowser } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';

/**
 * The Jobs & batches page of an account with more keys than it lists: it names the keys on screen
 * by looking them up, never by fetching every key (a reseller's 30,000 timed out).
 */
const sb = useStackAndBrowser();

/** The dashboard's page size (PAGE_SIZE in api/dashboard/js/components/paged-table.js). */
const PAGE = 50;

describe('dashboard: the Jobs & batches page of many keys', () => {
  it('names the keys on screen without listing every key: one older than 1,000 newer ones, filtered by', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url, { child: { name: 'The old one' } });
    // One job of its own (and no batch, which would name it on the first page), an hour ago.
    const { sql } = sb.stack.env.ctx;
    const hourAgo = new Date(Date.now() - 3_600_000);
    await sql`insert into jobs ${sql({
      id: newId('job'),
      account_id: c.accountId,
      management_key_id: c.mkId,
      child_key_id: c.childId,
      status: 'succeeded',
      model: SIM_MODEL_QWEN3_235B,
      request: sql.json({}),
      created_at: hourAgo,
      completed_at: hourAgo,
    })}`;
    // A thousand keys newer than it: past the newest that a filter offers.
    const later = new Date(Date.now() + 60_000);
    await sql`insert into child_keys ${sql(
      Array.from({ length: 1000 }, (_, i) => ({
        id: newId('ck'),
        account_id: c.accountId,
        management_key_id: c.mkId,
        name: `Newer ${i}`,
        key_hash: `seeded-${c.childId}-${i}`,
        key_prefix: 'gc-seeded',
        metadata: sql.json({}),
        created_at: later,
      })),
    )}`;
    const dash = await openDashboard(sb.browser, sb.stack.server.url);
    const childLists: string[] = [];
    dash.page.on('request', (r) => {
      if (/\/children(\?|$)/.test(r.url())) childLists.push(r.url());
    });
    const page = await signedIn(dash, c.jwt);
    await page.goto(`/dashboard/#/jobs?key_id=${c.childId}`);
    const jobs = page.getByRole('table', { name: 'Jobs' });
    await expect
      .poll(() => jobs.locator('tbody tr').allTextContents())
      .toEqual([expect.stringContaining('The old one')]);
    // The link's filter holds, and its key is among the options, named.
    await expect.poll(() => page.getByLabel('Child key').inputValue()).toBe(c.childId);
    // Every list of keys it asked for was bounded: the keys shown by id, or a page of choices.
    expect(childLists.length).toBeGreaterThan(0);
    for (const url of childLists) expect(url).toMatch(/[?&](ids|limit)=/);

    // Unfiltered, a page of newer jobs comes first; "Load more" brings the old key's, named too.
    const newer = (
      await sql<{ id: string }[]>`
      select id from child_keys where management_key_id = ${c.mkId} and name = 'Newer 0'`
    )[0]!.id;
    const { sql: s } = sb.stack.env.ctx;
    await s`insert into jobs ${s(
      Array.from({ length: PAGE }, (_, i) => ({
        id: newId('job'),
        account_id: c.accountId,
        management_key_id: c.mkId,
        child_key_id: newer,
        status: 'succeeded',
        model: SIM_MODEL_QWEN3_235B,
        request: s.json({}),
        created_at: new Date(Date.now() - 60_000 + i),
        completed_at: new Date(Date.now() - 60_000 + i),
      })),
    )}`;
    await page.goto('/dashboard/#/jobs');
    await page.getByRole('heading', { name: 'Jobs & batches', level: 1 }).waitFor();
    await expect.poll(() => jobs.locator('tbody tr').count()).toBe(PAGE);
    await page.getByRole('button', { name: 'Load more jobs' }).click();
    await expect.poll(() => jobs.locator('tbody tr').count()).toBe(PAGE + 1);
    expect(await jobs.locator('tbody tr').last().textContent()).toContain('The old one');
  });

  it('shares a thousand choices among the management keys, not a thousand each', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url);
    for (const name of ['Second', 'Third', 'Fourth']) {
      const made = await call(sb.stack.server.url, 'POST', '/api/management/keys', {
        token: c.jwt,
        body: { name },
      });
      expect(made.status).toBe(201);
    }
    const dash = await openDashboard(sb.browser, sb.stack.server.url);
    const limits: string[] = [];
    dash.page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.endsWith('/children') && url.searchParams.has('limit'))
        limits.push(url.searchParams.get('limit')!);
    });
    const page = await signedIn(dash, c.jwt);
    await page.goto('/dashboard/#/jobs');
    await page.getByRole('heading', { name: 'Jobs & batches', level: 1 }).waitFor();
    await expect.poll(() => limits.length).toBe(4);
    expect(limits).toEqual(['250', '250', '250', '250']);
    // The customer's own key is among them.
    await expect
      .poll(() => page.getByLabel('Child key').locator('option').allTextContents())
      .toContain('Client A (My SaaS)');
  });
});
