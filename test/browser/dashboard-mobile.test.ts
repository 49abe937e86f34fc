import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { screenshot, useDashboardTabs } from '../helpers/browser.js';
import { createManagementKey, signUp } from '../helpers/dashboard-keys.js';

/** The dashboard on a phone: nothing pushes the page wider than the screen. */
const tabs = useDashboardTabs();

/** How far the page reaches past the right edge of the viewport, in CSS pixels. */
const overflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe('dashboard: narrow screens', () => {
  it('keeps every page, header and Log out within a phone’s width, with a long email', async () => {
    const page = await tabs.open();
    await page.setViewportSize({ width: 375, height: 800 });
    // Work addresses are often this long, and have nowhere to break but their punctuation.
    const email = `jonathan.richardson.${Math.random().toString(36).slice(2, 8)}@acmeenterprises.example.com`;
    await signUp(page, email);
    await expect.poll(() => page.locator('#account-email').textContent()).toBe(email);
    await createManagementKey(page, 'Production backend');

    for (const [link, heading] of [
      ['Overview', 'Overview'],
      ['API keys', 'API keys'],
      ['Usage', 'Usage'],
      ['Jobs & batches', 'Jobs & batches'],
      ['Webhooks', 'Webhooks'],
    ] as const) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await screenshot(page, `mobile-${link.replaceAll(/\W+/g, '-').toLowerCase()}`);
      expect(await overflow(page), link).toBe(0);
      const logout = await page.getByRole('button', { name: 'Log out' }).boundingBox();
      expect(logout!.x + logout!.width, link).toBeLessThanOrEqual(375);
    }
    expect(tabs.dash.problems).toEqual([]);
  });

  it("keeps a row's actions on screen in a table wider than the phone", async () => {
    const page = await tabs.open();
    await page.setViewportSize({ width: 375, height: 800 });
    await signUp(page, `phone-${Math.random().toString(36).slice(2, 8)}@example.com`);
    await createManagementKey(page, 'Production backend');
    await page.getByRole('link', { name: 'API keys', exact: true }).click();
    const rename = page.getByRole('button', { name: 'Rename Production backend' });
    await rename.waitFor();
    const box = (await rename.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(375);
    await screenshot(page, 'mobile-row-actions');
    expect(tabs.dash.problems).toEqual([]);
  });
});
