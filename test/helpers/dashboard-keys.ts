import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { type DashboardPage, screenshot } from './browser.js';

/** Page steps the dashboard's key tests share (test/browser/dashboard-key*.test.ts). */

export const uniqueEmail = () => `founder-${Math.random().toString(36).slice(2, 10)}@example.com`;

export async function signUp(page: Page, email = uniqueEmail()): Promise<string> {
  await page.goto('/dashboard');
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.getByRole('link', { name: 'Create an account' }).click();
  // The log-in form has an Email field too, and the sign-up page renders on the hashchange after
  // the click: filled before then, the email went into the form about to be replaced.
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  // Once, under a full parallel run, this wait timed out with nothing to show why: say what the
  // page said instead (a refusal shows in an alert).
  await page
    .getByRole('heading', { name: 'Overview', level: 1 })
    .waitFor()
    .catch(async (err: unknown) => {
      const alerts = await page
        .getByRole('alert')
        .allTextContents()
        .catch(() => []);
      await screenshot(page, 'sign-up-stalled').catch(() => {});
      throw new Error(
        `sign-up did not reach the Overview; at ${page.url()}, alerts: ${JSON.stringify(alerts)}`,
        {
          cause: err,
        },
      );
    });
  return email;
}

/** The owner JWT the dashboard signed in with (its session storage). */
export async function jwtOf(page: Page): Promise<string> {
  return (await page.evaluate(() => sessionStorage.getItem('gonka-gateway.session')))!;
}

/** The tab's failed calls as `status METHOD path`, a management key's id in a path as `:id`. */
export const failedCalls = (dash: DashboardPage) =>
  dash.httpFailures.map((f) => `${f.status} ${f.method} ${f.path.replace(/mk_[\w-]+/, ':id')}`);

/** Creates a management key through its dialog; returns the `gm-` key it showed once. */
export async function createManagementKey(page: Page, name: string): Promise<string> {
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('button', { name: 'Create management key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create management key' });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByRole('dialog', { name: 'Management key created' });
  const key = await reveal.getByRole('textbox', { name: 'Your new management key' }).inputValue();
  await reveal.getByRole('button', { name: 'I have stored the key' }).click();
  await expect.poll(() => page.locator('dialog').count()).toBe(0);
  return key;
}

/** Every value the page shows, in text or in an input, so a secret cannot hide in either. */
export async function visibleText(page: Page): Promise<string> {
  const values = await page
    .locator('input, textarea')
    .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
  return `${await page.locator('body').textContent()}\n${values.join('\n')}`;
}

/** The text of the element that describes the field labelled `label` as invalid. */
export async function fieldError(page: Page, label: string): Promise<string> {
  return page.getByLabel(label, { exact: true }).evaluate((el) => {
    const ids = (el.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
    return ids
      .map((id) => document.getElementById(id))
      .filter((e) => e?.classList.contains('field-error'))
      .map((e) => e!.textContent)
      .join(' ');
  });
}

export async function activeLabel(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLInputElement | null;
    return el?.labels?.[0]?.textContent ?? null;
  });
}
