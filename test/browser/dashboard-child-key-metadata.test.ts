import { describe, expect, it } from 'vitest';
import { screenshot, useDashboardTabs } from '../helpers/browser.js';
import { createManagementKey, signUp } from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';

/** The child keys table shows each key's metadata: the owner's own references to their customers. */
const tabs = useDashboardTabs();

describe('dashboard: child key metadata', () => {
  it('lists each child key with its metadata, as text', async () => {
    const page = await tabs.open();
    await signUp(page);
    const gm = await createManagementKey(page, 'Backend');
    const url = tabs.stack.server.url;
    await page.getByRole('link', { name: 'Backend' }).click();
    const mkId = new URL(page.url()).hash.split('/').pop()!;
    for (const [name, metadata] of [
      ['Acme', { customer_id: '<b>c_42</b>', plan: 'pro', seats: 12, tags: ['eu', 'beta'] }],
      ['Globex', {}],
    ] as const) {
      const made = await call(url, 'POST', `/api/management/keys/${mkId}/children`, {
        token: gm,
        body: { name, metadata },
      });
      expect(made.status).toBe(201);
    }
    await page.reload();
    const row = (name: string) =>
      page.getByRole('row').filter({ has: page.getByRole('rowheader', { name }) });
    await row('Acme').waitFor();
    await screenshot(page, 'child-key-metadata');

    const acme = row('Acme').getByRole('rowheader');
    const shown = await acme.textContent();
    expect(shown).toContain('customer_id: <b>c_42</b>');
    expect(shown).toContain('plan: pro');
    expect(shown).toContain('seats: 12');
    expect(shown).toContain('tags: ["eu","beta"]');
    expect(await acme.locator('b').count()).toBe(0);
    // No metadata, nothing shown for it.
    expect(await row('Globex').getByRole('rowheader').locator('.metadata').count()).toBe(0);
    expect(tabs.dash.problems).toEqual([]);
  });
});
