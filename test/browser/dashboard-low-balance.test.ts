import { describe, expect, it } from 'vitest';
import { screenshot, useDashboardTabs } from '../helpers/browser.js';
import { signUp } from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';

/** The overview's low-balance alert: set, changed, refused and turned off, as the API stores it. */
const tabs = useDashboardTabs();

describe('dashboard: low-balance alert', () => {
  it('is set, changed and turned off from the overview, and the API holds what it shows', async () => {
    const page = await tabs.open();
    await signUp(page);
    const token = await page.evaluate(() => sessionStorage.getItem('gonka-gateway.session'));
    const stored = async () =>
      (await call(tabs.stack.server.url, 'GET', '/api/account', { token: token! })).body
        .low_balance_alert_ngonka;
    const box = page.locator('.low-balance-alert');
    await expect.poll(() => box.textContent()).toContain('Off');

    await box.getByRole('button', { name: 'Set an alert' }).click();
    const dialog = page.getByRole('dialog', { name: 'Low-balance alert' });
    await dialog.getByLabel('Alert below (GNK)').fill('-1');
    await dialog.getByRole('button', { name: 'Save alert' }).click();
    await expect.poll(() => dialog.getByLabel('Alert below (GNK)').getAttribute('aria-invalid')).toBe('true');
    await dialog.getByLabel('Alert below (GNK)').fill('2.5');
    await screenshot(page, 'low-balance-alert-dialog');
    await dialog.getByRole('button', { name: 'Save alert' }).click();
    await expect.poll(() => box.textContent()).toMatch(/falls below 2\.5 GNK/);
    expect(await stored()).toBe('2500000000');

    await box.getByRole('button', { name: 'Change alert' }).click();
    expect(await dialog.getByLabel('Alert below (GNK)').inputValue()).toBe('2.5');
    await dialog.getByLabel('Alert below (GNK)').fill('');
    await dialog.getByRole('button', { name: 'Save alert' }).click();
    await expect.poll(() => box.textContent()).toContain('Off');
    expect(await stored()).toBeNull();

    // The event is offered where webhooks are subscribed.
    await page.getByRole('link', { name: 'Webhooks' }).first().click();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Add endpoint' }).first().click();
    await expect
      .poll(() => page.getByText('The balance fell below your low-balance alert').count())
      .toBeGreaterThan(0);
    expect(tabs.dash.problems).toEqual([]);
  });
});
