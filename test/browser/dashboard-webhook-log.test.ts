import { describe, expect, it } from 'vitest';
import { screenshot, signedIn, useDashboardTabs } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { endpointWithLog } from '../helpers/webhook-deliveries.js';

/** The delivery logs on the Webhooks page. */
const tabs = useDashboardTabs();

describe('dashboard: webhook delivery logs', () => {
  it('pages a long delivery log with "Load more" until its first delivery', async () => {
    const c = await createCustomer(tabs.stack.env.ctx, tabs.stack.server.url);
    const { endpoint, ids, jobIds } = await endpointWithLog(tabs.stack.env.ctx, c.accountId, 27);
    await tabs.open();
    const page = await signedIn(tabs.dash, c.jwt);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('button', { name: `Delivery log of ${endpoint.url}` }).click();
    const log = page.getByRole('dialog', { name: `Deliveries to ${endpoint.url}` });
    const rows = log.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(20);
    const more = log.getByRole('button', { name: 'Load more deliveries' });
    await more.click();
    await expect.poll(() => rows.count()).toBe(27);
    // Every delivery once, newest first, and nothing more to load.
    const shown = await rows.locator('th .mono').allTextContents();
    expect(shown).toEqual(ids);
    expect(await more.isVisible()).toBe(false);
    await screenshot(page, 'webhook-log-paged');
    await page.keyboard.press('Escape');

    // The log of jobs' own webhook_url pages the same way.
    await page.getByRole('button', { name: 'Job webhook_url log' }).click();
    const jobLog = page.getByRole('dialog', { name: 'Deliveries to job webhook URLs' });
    const jobRows = jobLog.locator('tbody tr');
    await expect.poll(() => jobRows.count()).toBe(20);
    await jobLog.getByRole('button', { name: 'Load more deliveries' }).click();
    await expect.poll(() => jobRows.count()).toBe(27);
    expect(await jobRows.locator('th .mono').allTextContents()).toEqual(jobIds);

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });
});
