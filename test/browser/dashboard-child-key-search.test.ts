import { describe, expect, it } from 'vitest';
import { useDashboardTabs } from '../helpers/browser.js';
import { jwtOf, signUp } from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';

// A management key with more child keys than a page: the list pages ("Show more") and searches by
// name on the server, rather than load every key of thousands of customers.
const tabs = useDashboardTabs();

describe('dashboard: many child keys', () => {
  it('shows 100 at first, more on asking, and finds keys by part of their name', async () => {
    const page = await tabs.open();
    await signUp(page);
    const jwt = await jwtOf(page);
    const url = tabs.stack.server.url;
    const mk = (await call(url, 'POST', '/api/management/keys', { token: jwt, body: { name: 'Big SaaS' } }))
      .body;
    for (let i = 0; i < 103; i++) {
      const name = `Customer ${String(i).padStart(3, '0')}`;
      const made = await call(url, 'POST', `/api/management/keys/${mk.id}/children`, {
        token: mk.key,
        body: { name },
      });
      expect(made.status).toBe(201);
    }
    await page.goto(`/dashboard#/keys/${mk.id}`);
    await page.getByRole('heading', { name: 'Big SaaS', level: 1 }).waitFor();
    const rows = page.getByRole('row', { name: /Customer \d{3}/ });
    await expect.poll(() => rows.count()).toBe(100);
    await page.getByRole('button', { name: 'Show more child keys' }).click();
    await expect.poll(() => rows.count()).toBe(103);
    expect(await page.getByRole('button', { name: 'Show more child keys' }).count()).toBe(0);

    await page.getByRole('searchbox', { name: 'Search child keys by name' }).fill('customer 10');
    await expect.poll(() => rows.count()).toBe(3); // 100, 101, 102
    await page.getByRole('searchbox', { name: 'Search child keys by name' }).fill('nobody');
    await page.getByText('No child key’s name contains “nobody”.').waitFor();
  });
});
