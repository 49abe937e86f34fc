import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { signSession } from '../../shared/jwt.js';
import { useDashboardTabs } from '../helpers/browser.js';
import { uniqueEmail } from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';

/** Logging in again in a tab whose session ended: where the dashboard goes next. */
const tabs = useDashboardTabs();
const PASSWORD = 'correct horse battery';

/** An account registered over HTTP, with one management key. */
async function owner(name: string) {
  const { url } = tabs.stack.server;
  const email = uniqueEmail();
  const reg = await call(url, 'POST', '/api/auth/register', { body: { email, password: PASSWORD } });
  expect(reg.status).toBe(201);
  const mk = await call(url, 'POST', '/api/management/keys', { token: reg.body.token, body: { name } });
  return { email, id: reg.body.account.id as string, mkId: mk.body.id as string };
}

/**
 * The owner's session ends (it expired) while the tab is on their key page: the page's next look at
 * its keys (every 3 s) is refused, and the login page follows with the reason, no reload needed.
 */
async function sessionEndsOnKeyPage(page: Page, who: { id: string; mkId: string }, name: string) {
  // A session that ends in a few seconds, as a day's session does at its end: long enough for the
  // key page to show first on a loaded machine (3 s was not, once, with the whole suite running).
  const token = await signSession(tabs.stack.env.config.JWT_SECRET, who.id, 10);
  const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };
  await page.goto('/dashboard/');
  await page.evaluate((t) => sessionStorage.setItem('gonka-gateway.session', t), token);
  await page.goto(`/dashboard/#/keys/${who.mkId}`);
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 1100));
  await page.getByRole('heading', { name: 'Log in', level: 1 }).waitFor({ timeout: 10_000 });
  await expect.poll(() => page.locator('#alert').textContent()).toMatch(/session has ended/);
  // No form was open: nothing to say about a change.
  expect(await page.locator('#alert').textContent()).not.toMatch(/not saved/);
}

async function logIn(page: Page, email: string) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
}

describe('dashboard: logging in after a session ended', () => {
  it('takes another account to its overview, not to the page the last one was on', async () => {
    const a = await owner('Alice backend');
    const b = await owner('Bob backend');
    const page = await tabs.open();
    await sessionEndsOnKeyPage(page, a, 'Alice backend');
    await logIn(page, b.email);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    expect(await page.locator('#alert').textContent()).toBe('');
    expect(tabs.dash.problems).toEqual([]);
    // Only the ended session's refusals: Bob never asked for Alice's key.
    expect(tabs.dash.httpFailures.every((f) => f.status === 401)).toBe(true);
  });

  it('takes the same account back to the page it was on', async () => {
    const a = await owner('Alice backend');
    const page = await tabs.open();
    await sessionEndsOnKeyPage(page, a, 'Alice backend');
    await logIn(page, a.email);
    await page.getByRole('heading', { name: 'Alice backend', level: 1 }).waitFor();
    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures.every((f) => f.status === 401)).toBe(true);
  });
});

describe('dashboard: the Back button', () => {
  it('leaves the dashboard: redirects and the sign-in page are not left in the history to send it forward again', async () => {
    const a = await owner('Alice backend');
    const page = await tabs.open();
    await page.goto('about:blank');
    await page.goto('/'); // the gateway's root → /dashboard/ → #/login
    await page.getByRole('heading', { name: 'Log in', level: 1 }).waitFor();
    await logIn(page, a.email);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();

    await page.goBack();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.goBack();
    await expect.poll(() => page.url()).toBe('about:blank');
  });
});

describe('dashboard: logging out', () => {
  it('ends the session on the server too: a copy of its token no longer works', async () => {
    const a = await owner('Alice backend');
    const page = await tabs.open();
    await page.goto('/dashboard/#/login');
    await logIn(page, a.email);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const token = await page.evaluate(() => sessionStorage.getItem('gonka-gateway.session'));
    expect((await call(tabs.stack.server.url, 'GET', '/api/account', { token: token! })).status).toBe(200);

    const ended = page.waitForResponse((r) => r.url().endsWith('/api/auth/logout'));
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in', level: 1 }).waitFor();
    expect((await ended).status()).toBe(204);
    const after = await call(tabs.stack.server.url, 'GET', '/api/account', { token: token! });
    expect([after.status, after.body.error.message]).toEqual([401, 'This session was logged out']);
    expect(tabs.dash.problems).toEqual([]);
  });
});
