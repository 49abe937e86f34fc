import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { screenshot, useDashboardTabs } from '../helpers/browser.js';
import { createManagementKey, jwtOf, signUp, visibleText } from '../helpers/dashboard-keys.js';
import { call, chatWith } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const tabs = useDashboardTabs();
const open = () => tabs.open();

const chat = (key: string) => chatWith(tabs.stack.server.url, key, SIM_MODEL_QWEN3_235B);

/** "YYYY-MM-DDTHH:mm" in UTC (the browser context runs in UTC), `days` from now, at the full hour. */
function utcLocalInput(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setUTCMinutes(0, 0, 0);
  return d.toISOString().slice(0, 16);
}

describe('dashboard: management and child keys', () => {
  it('signs up, issues a limited child key, edits and disables it; /v1 then refuses that key', async () => {
    const page = await open();
    const email = await signUp(page);
    const admin = tabs.stack.env.config.ADMIN_TOKEN!;
    const topup = await call(tabs.stack.server.url, 'POST', '/api/admin/topups', {
      token: admin,
      body: { email, amount_ngonka: '25000000000', reference: `browser-${email}` },
    });
    expect(topup.status).toBe(201);

    const gm = await createManagementKey(page, 'My SaaS');
    expect(gm).toMatch(/^gm-/);
    const mkRow = page.getByRole('row', { name: /My SaaS/ });
    await expect.poll(() => mkRow.textContent()).toContain(gm.slice(0, 6));
    expect(await visibleText(page)).not.toContain(gm);
    await screenshot(page, 'keys');

    await page.getByRole('link', { name: 'My SaaS' }).click();
    await page.getByRole('heading', { name: 'My SaaS', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Create child key' }).click();
    const form = page.getByRole('dialog', { name: /New child key/ });
    const expires = utcLocalInput(30);
    await form.getByLabel('Name').fill('Customer 42');
    await form.getByLabel('Daily limit (GNK)').fill('1.5');
    await form.getByLabel('Monthly limit (GNK)').fill('20');
    await form.getByLabel('Requests per minute').fill('60');
    await form.getByLabel('Expires at (your local time)').fill(expires);
    await screenshot(page, 'child-key-create-dialog');
    await form.getByRole('button', { name: 'Create child key' }).click();
    const reveal = page.getByRole('dialog', { name: 'Child key created' });
    const gc = await reveal.getByRole('textbox', { name: 'Your new child key' }).inputValue();
    expect(gc).toMatch(/^gc-/);
    await screenshot(page, 'child-key-created-dialog');
    // Escape before the key was copied or stored asks first; saying no keeps the key on screen.
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.dismiss();
    });
    await page.keyboard.press('Escape');
    await expect.poll(() => asked.length).toBe(1);
    expect(asked[0]).toMatch(/cannot be shown again/);
    expect(await reveal.isVisible()).toBe(true);
    await reveal.getByRole('button', { name: 'I have stored the key' }).click();
    await expect.poll(() => page.locator('dialog').count()).toBe(0);

    // Listed with its limits and prefix, never its plain key.
    const row = page.getByRole('row', { name: /Customer 42/ });
    await expect.poll(() => row.textContent()).toContain('of 1.5 GNK');
    const rowText = await row.textContent();
    expect(rowText).toContain('of 20 GNK');
    expect(rowText).toContain('60');
    expect(rowText).toContain(gc.slice(0, 6));
    expect(await visibleText(page)).not.toContain(gc);

    const mkId = new URL(page.url()).hash.split('/').pop()!;
    const children = await call(tabs.stack.server.url, 'GET', `/api/management/keys/${mkId}/children`, {
      token: gm,
    });
    const child = children.body.data[0];
    expect(child).toMatchObject({
      name: 'Customer 42',
      limit_daily_ngonka: '1500000000',
      limit_monthly_ngonka: '20000000000',
      rate_limit_rpm: 60,
      expires_at: `${expires}:00.000Z`,
      status: 'active',
    });

    // The key works, and its spend shows against the limits after a reload.
    expect((await chat(gc)).status).toBe(200);
    await page.reload();
    await expect.poll(() => row.textContent()).toContain('1 request');
    await screenshot(page, 'key-detail');

    // Edit the daily limit; the rest (the expiry included) is left as it was.
    await page.getByRole('button', { name: 'Edit Customer 42' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit Customer 42' });
    expect(await edit.getByLabel('Daily limit (GNK)').inputValue()).toBe('1.5');
    await edit.getByLabel('Daily limit (GNK)').fill('2.25');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => row.textContent()).toContain('of 2.25 GNK');
    const edited = await call(
      tabs.stack.server.url,
      'GET',
      `/api/management/keys/${mkId}/children/${child.id}`,
      {
        token: gm,
      },
    );
    expect(edited.body).toMatchObject({ limit_daily_ngonka: '2250000000', expires_at: child.expires_at });

    // A daily limit of 0 reads as blocked, not as an empty bar.
    await page.getByRole('button', { name: 'Edit Customer 42' }).click();
    await edit.getByLabel('Daily limit (GNK)').fill('0');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => row.textContent()).toContain('Limit 0 GNK: every request is refused');
    expect(await row.locator('.bar-danger').count()).toBe(1);
    await page.getByRole('button', { name: 'Edit Customer 42' }).click();
    await edit.getByLabel('Daily limit (GNK)').fill('2.25');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => row.textContent()).toContain('of 2.25 GNK');

    // Disable, with the network down the first time: the page says so, and once a retry works
    // the failure is no longer shown beside the success.
    await page.route(/\/children\/ck_/, (route) => route.abort(), { times: 1 });
    await page.getByRole('button', { name: 'Disable Customer 42' }).click();
    const alert = page.locator('#alert');
    await expect.poll(() => alert.textContent()).toMatch(/Cannot reach the server/);
    tabs.dash.problems.splice(0); // the failed request and its console line: this test's own doing
    // The status changes in place, focus stays on the (now "Enable") button.
    await page.getByRole('button', { name: 'Disable Customer 42' }).click();
    await expect.poll(() => row.getByText('disabled', { exact: true }).count()).toBe(1);
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
      .toBe('Enable Customer 42');
    expect(await alert.textContent()).toBe('');

    const refused = await chat(gc);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_disabled' });

    // Overview once the charge has settled: balance, the chart and the top key.
    const jwt = await jwtOf(page);
    await waitFor('charge settled', async () => {
      const a = await call(tabs.stack.server.url, 'GET', '/api/account/usage?group_by=key', { token: jwt });
      return a.body.data.length > 0;
    });
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { name: 'Top keys' }).waitFor();
    await expect.poll(() => page.getByRole('row', { name: /Customer 42/ }).count()).toBe(1);
    await screenshot(page, 'overview');

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });

  it('renames, disables and revokes a management key; deletes a child key after a confirm', async () => {
    const page = await open();
    await signUp(page);
    const gm = await createManagementKey(page, 'Old name');
    const mkRow = page.getByRole('row', { name: /Old name/ });
    const mkId = await mkRow.getAttribute('data-id');
    const child = await call(tabs.stack.server.url, 'POST', `/api/management/keys/${mkId}/children`, {
      token: gm,
      body: { name: 'To delete' },
    });
    expect(child.status).toBe(201);

    await page.getByRole('button', { name: 'Rename Old name' }).click();
    const rename = page.getByRole('dialog', { name: 'Rename Old name' });
    await rename.getByLabel('Name').fill('New name');
    await rename.getByRole('button', { name: 'Save name' }).click();
    const row = page.getByRole('row', { name: /New name/ });
    await row.waitFor();
    await page.getByRole('button', { name: 'Disable New name' }).click();
    await expect.poll(() => row.getByText('disabled', { exact: true }).count()).toBe(1);
    await page.getByRole('button', { name: 'Enable New name' }).click();
    await expect.poll(() => row.getByText('active', { exact: true }).count()).toBe(1);

    await page.getByRole('link', { name: 'New name' }).click();
    await page.getByRole('button', { name: 'Delete To delete' }).click();
    const confirmDelete = page.getByRole('dialog', { name: 'Delete To delete?' });
    // Cancel has focus first, so a stray Enter destroys nothing.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await confirmDelete.getByRole('button', { name: 'Delete key' }).click();
    await page.getByText('Every child key of this management key is deleted.').waitFor();
    await page.getByLabel('Show deleted keys').check();
    await expect.poll(() => page.getByRole('row', { name: /To delete/ }).textContent()).toContain('deleted');
    expect((await chat(child.body.key)).status).toBe(401);

    await page
      .getByRole('navigation', { name: 'Breadcrumb' })
      .getByRole('link', { name: 'API keys' })
      .click();
    await page.getByRole('button', { name: 'Revoke New name' }).click();
    await page
      .getByRole('dialog', { name: 'Revoke New name?' })
      .getByRole('button', { name: 'Revoke key' })
      .click();
    await expect.poll(() => row.getByText('revoked', { exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Rename New name' }).count()).toBe(0);
    const refused = await call(tabs.stack.server.url, 'GET', `/api/management/keys/${mkId}/children`, {
      token: gm,
    });
    expect(refused.status).toBe(401);
    // Its page says it is revoked, and offers no gm- example that could only be refused.
    await page.getByRole('link', { name: 'New name' }).click();
    await page.getByText('This management key is revoked').waitFor();
    expect(await page.getByRole('heading', { name: 'From your backend' }).count()).toBe(0);

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });
});
