import { describe, expect, it } from 'vitest';
import { screenshot, signedIn, useDashboardTabs } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';

/** The overview's spend-per-day chart and the table beside it. */
const tabs = useDashboardTabs();

describe('dashboard: spend per day', () => {
  it('says there was no spend under "Show as a table" rather than showing an empty table', async () => {
    const c = await createCustomer(tabs.stack.env.ctx, tabs.stack.server.url);
    await tabs.open();
    const page = await signedIn(tabs.dash, c.jwt);
    const chart = page.locator('figure.chart');
    await chart.getByText('Show as a table').click();
    const details = chart.locator('details');
    await expect.poll(() => details.getAttribute('open')).not.toBeNull();
    expect(await details.locator('table').count()).toBe(0);
    expect(await details.textContent()).toMatch(/No spend from \w+ \d+ to \w+ \d+/);

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });
});
