import { describe, expect, it } from 'vitest';
import { screenshot, useDashboardTabs } from '../helpers/browser.js';
import {
  activeLabel,
  createManagementKey,
  failedCalls,
  fieldError,
  jwtOf,
  signUp,
  uniqueEmail,
} from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';

/** The key forms: what the browser and the API refuse, shown beside the field; keyboard-only use. */
const tabs = useDashboardTabs();
const open = () => tabs.open();

describe('dashboard: key forms', () => {
  it('shows API validation errors next to the field they name', async () => {
    const page = await open();
    await page.goto('/dashboard/#/signup');
    await page.getByLabel('Email').fill(uniqueEmail());
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    const password = page.getByLabel('Password');
    await expect.poll(() => password.getAttribute('aria-invalid')).toBe('true');
    expect(await fieldError(page, 'Password')).toMatch(/8 characters/);
    await screenshot(page, 'signup-error');
    await password.fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();

    await createManagementKey(page, 'Validation');
    await page.getByRole('link', { name: 'Validation' }).click();
    await page.getByRole('button', { name: 'Create child key' }).click();
    const form = page.getByRole('dialog', { name: /New child key/ });
    // The field takes no more than the API does.
    await form.getByLabel('Name').fill('x'.repeat(101));
    expect(await form.getByLabel('Name').inputValue()).toHaveLength(100);
    // A name that shows nothing: the API's refusal, beside the field.
    await form.getByLabel('Name').fill('\u200B\u200B');
    await form.getByRole('button', { name: 'Create child key' }).click();
    await expect.poll(() => form.getByLabel('Name').getAttribute('aria-invalid')).toBe('true');
    expect(await fieldError(page, 'Name')).toMatch(/visible character/);
    // Focus goes to the field named by the error.
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).name)).toBe('name');

    await form.getByLabel('Name').fill('Customer 7');
    // Every field in error is shown at once, not one per submit.
    await form.getByLabel('Monthly limit (GNK)').fill('1.0000000001');
    await form.getByLabel('Requests per minute').fill('abc');
    await form.getByLabel(/Metadata/).fill('{bad');
    await form.getByRole('button', { name: 'Create child key' }).click();
    for (const label of ['Monthly limit (GNK)', 'Requests per minute', /Metadata/])
      await expect.poll(() => form.getByLabel(label).getAttribute('aria-invalid')).toBe('true');
    await form.getByLabel('Monthly limit (GNK)').fill('');
    await form.getByLabel('Requests per minute').fill('');
    await form.getByLabel(/Metadata/).fill('');
    await form.getByLabel('Daily limit (GNK)').fill('9999999999');
    await form.getByRole('button', { name: 'Create child key' }).click();
    const daily = form.getByLabel('Daily limit (GNK)');
    await expect.poll(() => daily.getAttribute('aria-invalid')).toBe('true');
    expect(await fieldError(page, 'Daily limit (GNK)')).toMatch(/At most 9,223,372,036.854775807 GNK/);
    expect(await form.getByLabel('Name').getAttribute('aria-invalid')).toBeNull();

    await daily.fill('1');
    await form.getByLabel('Requests per minute').fill('0');
    await form.getByRole('button', { name: 'Create child key' }).click();
    await expect.poll(() => form.getByLabel('Requests per minute').getAttribute('aria-invalid')).toBe('true');
    expect(await fieldError(page, 'Requests per minute')).toMatch(/must be positive/i);

    // A date typed without its time is refused, not read as "never expires".
    await form.getByLabel('Requests per minute').fill('');
    await form.getByLabel(/Expires at/).focus();
    await page.keyboard.type('12312030');
    await form.getByRole('button', { name: 'Create child key' }).click();
    await expect.poll(() => form.getByLabel(/Expires at/).getAttribute('aria-invalid')).toBe('true');
    expect(await fieldError(page, 'Expires at (your local time)')).toMatch(/both a date and a time/);
    await screenshot(page, 'child-key-validation');

    expect(tabs.dash.problems).toEqual([]);
    expect(failedCalls(tabs.dash)).toEqual([
      '400 POST /api/auth/register',
      '400 POST /api/management/keys/:id/children',
      '400 POST /api/management/keys/:id/children',
    ]);
  });

  it('reads thousands separators in the requests-per-minute field as the limit fields do', async () => {
    const page = await open();
    await signUp(page);
    await createManagementKey(page, 'Grouping');
    await page.getByRole('link', { name: 'Grouping' }).click();
    await page.getByRole('button', { name: 'Create child key' }).click();
    const form = page.getByRole('dialog', { name: /New child key/ });
    await form.getByLabel('Name').fill('Big customer');
    await form.getByLabel('Daily limit (GNK)').fill('1,000');
    await form.getByLabel('Requests per minute').fill('1,000');
    await form.getByRole('button', { name: 'Create child key' }).click();
    const reveal = page.getByRole('dialog', { name: 'Child key created' });
    await reveal.getByRole('button', { name: 'I have stored the key' }).click();
    const row = page.getByRole('row', { name: /Big customer/ });
    await expect.poll(() => row.textContent()).toMatch(/of 1,000 GNK[\s\S]*1,000/);

    // A comma that is not a thousands separator is refused there too, never read as grouping.
    await page.getByRole('button', { name: 'Edit Big customer' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit Big customer' });
    expect(await edit.getByLabel('Requests per minute').inputValue()).toBe('1000');
    await edit.getByLabel('Requests per minute').fill('1,00');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => edit.getByLabel('Requests per minute').getAttribute('aria-invalid')).toBe('true');
    expect(await fieldError(page, 'Requests per minute')).toMatch(/comma may only group thousands/);

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });

  it('says how to bring back an expired key, and a cleared expiry does', async () => {
    const page = await open();
    await signUp(page);
    await createManagementKey(page, 'Expiring');
    const mks = await call(tabs.stack.server.url, 'GET', '/api/management/keys', {
      token: await jwtOf(page),
    });
    const mkId = mks.body.data[0].id as string;
    // Made over the API with an expiry a moment away (the API takes none in the past), then let lapse.
    const child = await call(tabs.stack.server.url, 'POST', `/api/management/keys/${mkId}/children`, {
      token: await jwtOf(page),
      body: { name: 'Trial', expires_at: new Date(Date.now() + 1_000).toISOString() },
    });
    expect(child.status).toBe(201);
    await new Promise((r) => setTimeout(r, 1_100));
    await page.getByRole('link', { name: 'Expiring' }).click();
    const row = page.getByRole('row', { name: /Trial/ });
    await expect.poll(() => row.textContent()).toMatch(/expired/);
    await page.getByRole('button', { name: 'Edit Trial' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit Trial' });
    await expect.poll(() => edit.textContent()).toMatch(/Set an expiry in the future, or clear it/);
    await edit.getByLabel(/Expires at/).fill('');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => row.textContent()).toMatch(/active/);
    expect(tabs.dash.problems).toEqual([]);
  });

  it('creates keys from the keyboard alone', async () => {
    const page = await open();
    await signUp(page);
    await page.getByRole('link', { name: 'API keys' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();

    const create = page.getByRole('button', { name: 'Create management key' });
    await create.focus();
    await page.keyboard.press('Enter');
    // The dialog opens with focus in its first field; Enter submits.
    await expect.poll(() => activeLabel(page)).toBe('Name');
    await page.keyboard.type('Keyboard SaaS');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Management key created' }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Copy');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('dialog').count()).toBe(0);
    // Focus is back where it was.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Create management key');
    await page.getByRole('row', { name: /Keyboard SaaS/ }).waitFor();

    await page.getByRole('link', { name: 'Keyboard SaaS' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Keyboard SaaS', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Create child key' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => activeLabel(page)).toBe('Name');
    await page.keyboard.type('Keyboard customer');
    await page.keyboard.press('Tab');
    await page.keyboard.type('0.5');
    await page.keyboard.press('Enter');
    const reveal = page.getByRole('dialog', { name: 'Child key created' });
    expect(await reveal.getByRole('textbox', { name: 'Your new child key' }).inputValue()).toMatch(/^gc-/);
    // Escape closes it once the user confirms leaving the uncopied key behind.
    page.once('dialog', (d) => void d.accept());
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('dialog').count()).toBe(0);
    const row = page.getByRole('row', { name: /Keyboard customer/ });
    await expect.poll(() => row.textContent()).toContain('of 0.5 GNK');

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });
});
