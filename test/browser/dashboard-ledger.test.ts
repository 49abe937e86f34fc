import { describe, expect, it } from 'vitest';
import { useDashboardTabs } from '../helpers/browser.js';
import { signUp } from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';

/** The overview's Recent activity says what each entry is, as the ledger records it. */
const tabs = useDashboardTabs();

describe('dashboard: ledger entries', () => {
  it('shows a USDT top-up with the USDT paid and the rate it was converted at', async () => {
    const page = await tabs.open();
    const email = await signUp(page);
    const credited = await call(tabs.stack.server.url, 'POST', '/api/admin/topups', {
      token: tabs.stack.env.config.ADMIN_TOKEN!,
      body: { email, amount_usdt: '12.5', reference: `usdt-${email}` },
    });
    expect(credited.status).toBe(201);
    const { amount_usdt, usdt_rate_ngonka } = credited.body.metadata;
    expect(amount_usdt).toBe('12.5');
    // The rate is small enough here (a few GNK per USDT) for a Number to hold it exactly.
    const rateGnk = Number(usdt_rate_ngonka) / 1e9;

    await page.reload();
    const row = page.getByRole('table', { name: 'Ledger entries, newest first' }).locator('tbody tr');
    await expect.poll(() => row.count()).toBe(1);
    const text = await row.textContent();
    expect(text).toContain(`usdt-${email}`);
    expect(text).toContain(`12.5 USDT at ${rateGnk} GNK per USDT`);
    expect(text).toContain(`(${BigInt(credited.body.amount_ngonka).toLocaleString('en-US')} nGNK)`);
    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });
});
