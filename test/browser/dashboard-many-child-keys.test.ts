import type { Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { newId } from '../../shared/ids.js';
import { openDashboard, signedIn, useStackAndBrowser } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';

/**
 * A management key's page shown past 1,000 child keys ("Show more" asked enough times): its
 * live refresh asked for the first 1,000 only, so every 3 s the keys past them left the page
 * (dash31), and an action on one of them missed.
 */
const sb = useStackAndBrowser();

const KEYS = 1_050;

/** A customer whose management key has `n` child keys ('Seeded 0000' the oldest), written straight to Postgres. */
async function customerWithKeys(n: number) {
  const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url, { child: { name: 'Seeded 0000' } });
  const { sql } = sb.stack.env.ctx;
  const start = Date.now();
  await sql`insert into child_keys ${sql(
    Array.from({ length: n - 1 }, (_, i) => ({
      id: newId('ck'),
      account_id: c.accountId,
      management_key_id: c.mkId,
      name: `Seeded ${String(i + 1).padStart(4, '0')}`,
      key_hash: `seeded-${c.childId}-${i}`,
      key_prefix: 'gc-seeded',
      metadata: sql.json({}),
      created_at: new Date(start + (i + 1) * 1_000),
    })),
  )}`;
  return c;
}

describe('dashboard: a management key page shown past 1,000 child keys', () => {
  it('keeps every key shown through its live refresh', async () => {
    const c = await customerWithKeys(KEYS);
    const dash = await openDashboard(sb.browser, sb.stack.server.url);
    let refreshes = 0;
    dash.page.on('response', (r) => {
      if (/\/children\?limit=1000(&|$)/.test(r.url())) refreshes++;
    });
    const page = await signedIn(dash, c.jwt);
    await page.goto(`/dashboard/#/keys/${c.mkId}`);
    const rows = page.getByRole('region', { name: 'Child keys of My SaaS' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(100);
    const more = page.getByRole('button', { name: 'Show more child keys' });
    while ((await rows.count()) < KEYS) {
      const before = await rows.count();
      await more.click();
      await expect.poll(() => rows.count()).toBeGreaterThan(before);
    }
    // Two live rounds after all are shown.
    const seen = refreshes;
    await expect.poll(() => refreshes, { timeout: 15_000 }).toBeGreaterThanOrEqual(seen + 2);
    expect(await rows.count()).toBe(KEYS);
    await page.getByRole('cell', { name: 'Seeded 0000' }).waitFor();
    await dash.close();
  });

  it('keeps what Show more added when a live round asked before it comes back after it', async () => {
    const c = await customerWithKeys(150);
    const dash = await openDashboard(sb.browser, sb.stack.server.url);
    const page = await signedIn(dash, c.jwt);
    await page.goto(`/dashboard/#/keys/${c.mkId}`);
    const rows = page.getByRole('region', { name: 'Child keys of My SaaS' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(100);
    // The next live round (the first 100 again) is held until Show more has drawn 150.
    let hold = true;
    const held: Route[] = [];
    let rounds = 0;
    await page.route(/\/children\?limit=\d+$/, async (route) => {
      rounds++;
      if (hold) held.push(route);
      else await route.continue();
    });
    await expect.poll(() => held.length, { timeout: 10_000 }).toBe(1);
    await page.getByRole('button', { name: 'Show more child keys' }).click();
    await expect.poll(() => rows.count()).toBe(150);
    hold = false;
    await held[0]!.continue();
    const seen = rounds;
    await expect.poll(() => rounds, { timeout: 15_000 }).toBeGreaterThanOrEqual(seen + 2);
    expect(await rows.count()).toBe(150);
    await dash.close();
  });
});
