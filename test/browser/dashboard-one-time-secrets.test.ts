import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useDashboardTabs } from '../helpers/browser.js';
import { failedCalls, jwtOf, signUp } from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';

/** A secret the API returns once is shown even when what the page does after creating it fails. */
const tabs = useDashboardTabs();

/** The next GET of a list path answers 503 once: the re-read after a create hits a blip. */
async function failNextListRead(page: Page, path: RegExp): Promise<void> {
  let failed = false;
  await page.route(path, async (route) => {
    if (failed || route.request().method() !== 'GET') return route.fallback();
    failed = true;
    await route.fulfill({
      status: 503,
      contentType: 'application/json',
      body: '{"error":{"type":"service_unavailable","message":"Service temporarily unavailable"}}',
    });
  });
}

describe('dashboard: one-time secrets', () => {
  it('shows the new key even when the list cannot be re-read after creating it', async () => {
    const page = await tabs.open();
    await signUp(page);
    const jwt = await jwtOf(page);
    const url = tabs.stack.server.url;

    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('button', { name: 'Create management key' }).click();
    await failNextListRead(page, /\/api\/management\/keys$/);
    const mkDialog = page.getByRole('dialog', { name: 'Create management key' });
    await mkDialog.getByLabel('Name').fill('Backend');
    await mkDialog.getByRole('button', { name: 'Create key' }).click();
    const mkReveal = page.getByRole('dialog', { name: 'Management key created' });
    const gm = await mkReveal.getByRole('textbox', { name: 'Your new management key' }).inputValue();
    expect(gm).toMatch(/^gm-/);
    // A lost key is rotated, never revoked (revoking takes its child keys down for good).
    expect(await mkReveal.locator('.callout').textContent()).toMatch(/rotate it .*the same child keys/);
    // The copy button is named with the label as written.
    await mkReveal.getByRole('button', { name: 'Copy Your new management key' }).waitFor();
    // The list behind says it is stale rather than the form inviting a second key.
    await expect.poll(() => page.locator('#alert').textContent()).toMatch(/created.*temporarily unavailable/);
    await mkReveal.getByRole('button', { name: 'I have stored the key' }).click();
    const mks = await call(url, 'GET', '/api/management/keys', { token: jwt });
    expect(mks.body.data.map((k: { name: string }) => k.name)).toEqual(['Backend']);

    await page.reload();
    await page.getByRole('link', { name: 'Backend' }).click();
    await page.getByRole('button', { name: 'Create child key' }).click();
    await failNextListRead(page, /\/children(\?.*)?$/);
    const form = page.getByRole('dialog', { name: /New child key/ });
    await form.getByLabel('Name').fill('Customer 1');
    await form.getByRole('button', { name: 'Create child key' }).click();
    const reveal = page.getByRole('dialog', { name: 'Child key created' });
    expect(await reveal.getByRole('textbox', { name: 'Your new child key' }).inputValue()).toMatch(/^gc-/);
    await reveal.getByRole('button', { name: 'I have stored the key' }).click();
    const children = await call(url, 'GET', `/api/management/keys/${mks.body.data[0].id}/children`, {
      token: jwt,
    });
    expect(children.body.data).toHaveLength(1);

    // The webhook's signing secret too (a public name, resolved by the test instead of DNS).
    tabs.stack.env.ctx.lookupHost = async () => [{ address: '93.184.215.14', family: 4 }];
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await failNextListRead(page, /\/api\/webhooks$/);
    const hook = page.getByRole('dialog', { name: 'Add webhook endpoint' });
    await hook.getByText('Must be https.').waitFor(); // the default: public https only
    await hook.getByLabel('Endpoint URL').fill('https://hooks.example.com/gonka');
    await hook.getByLabel(/All events/).check();
    await hook.getByRole('button', { name: 'Add endpoint' }).click();
    const secret = page.getByRole('dialog', { name: 'Webhook endpoint added' });
    expect(await secret.getByRole('textbox', { name: 'Signing secret' }).inputValue()).toMatch(/^whsec_/);
    const hooks = await call(url, 'GET', '/api/webhooks', { token: jwt });
    expect(hooks.body.data).toHaveLength(1);

    // The page re-reads the endpoint list after showing the secret: wait for that read (failed once).
    await expect
      .poll(() => failedCalls(tabs.dash))
      .toEqual([
        '503 GET /api/management/keys',
        '503 GET /api/management/keys/:id/children',
        '503 GET /api/webhooks',
      ]);
    expect(tabs.dash.problems).toEqual([]);
  });

  it('shows the new key even when its dialog was closed while the key was being created', async () => {
    const page = await tabs.open();
    await signUp(page);
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('button', { name: 'Create management key' }).click();
    // The create is slow to answer, and the user gives up on it: Escape closes the form.
    let answer!: () => void;
    const slow = new Promise<void>((resolve) => {
      answer = resolve;
    });
    await page.route(/\/api\/management\/keys$/, async (route) => {
      if (route.request().method() === 'POST') await slow;
      await route.fallback();
    });
    const dialog = page.getByRole('dialog', { name: 'Create management key' });
    await dialog.getByLabel('Name').fill('Slow');
    const sent = page.waitForRequest((r) => r.method() === 'POST');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await sent;
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('dialog').count()).toBe(0);
    answer();

    // The key exists now: its only showing is not lost with the closed form.
    const reveal = page.getByRole('dialog', { name: 'Management key created' });
    expect(await reveal.getByRole('textbox', { name: 'Your new management key' }).inputValue()).toMatch(
      /^gm-/,
    );
    await reveal.getByRole('button', { name: 'I have stored the key' }).click();
    await page.getByRole('link', { name: 'Slow' }).waitFor();
    expect(tabs.dash.problems).toEqual([]);
  });
});
