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
      // A value that would reverse what follows it, and one past what a row shows.
      ['Spoof', { customer_id: '\u202E24_c', plan: 'pro' }],
      ['Long', { note: 'n'.repeat(300), after: 'never shown' }],
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
    // Each key and value in an element of its own that isolates it: the override stays inside.
    const spoof = row('Spoof').getByRole('rowheader').locator('.metadata bdi');
    // (In jsonb's order of keys: shorter first.)
    expect(await spoof.allTextContents()).toEqual(['plan', 'pro', 'customer_id', '\u202E24_c']);
    const long = await row('Long').getByRole('rowheader').locator('.metadata').textContent();
    expect(long).toMatch(/^note: n+…$/);
    expect(long!.length).toBeLessThanOrEqual(162);
    // No metadata, nothing shown for it.
    expect(await row('Globex').getByRole('rowheader').locator('.metadata').count()).toBe(0);
    expect(tabs.dash.problems).toEqual([]);
  });
});
