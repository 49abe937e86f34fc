import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { screenshot, signedIn, useDashboardTabs } from '../helpers/browser.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/** A child key's spend against its limits, as the key page shows it. */
const tabs = useDashboardTabs();

/** The management key's page in a fresh tab, and its child key's "today" cell. */
async function keyPage(c: Customer) {
  await tabs.open();
  const page = await signedIn(tabs.dash, c.jwt);
  await page.goto(`/dashboard/#/keys/${c.mkId}`);
  const today = page
    .getByRole('row', { name: /Client A/ })
    .locator('td')
    .nth(1);
  return { page, today };
}

describe('dashboard: child key usage', () => {
  it('shows spend above a limit lowered after it as the real percentage, marked over the limit', async () => {
    const { url } = tabs.stack.server;
    const c = await createCustomer(tabs.stack.env.ctx, url, { child: { limit_daily_ngonka: '1000000000' } });
    const answer = await c.openai.chat.completions.create({
      model: SIM_MODEL_QWEN3_235B,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 20,
    });
    expect(answer.choices).toHaveLength(1);
    const childPath = `/api/management/keys/${c.mkId}/children/${c.childId}`;
    const spent = BigInt(
      await waitFor('the request settled', async () => {
        const child = await call(url, 'GET', childPath, { token: c.jwt });
        const u = child.body.usage;
        return u.daily_reserved_ngonka === '0' && u.daily_spent_ngonka !== '0' && u.daily_spent_ngonka;
      }),
    );
    // The owner lowers the limit below what the key already spent today: two thirds of it.
    const limit = (spent * 2n) / 3n;
    const lowered = await call(url, 'PATCH', childPath, {
      token: c.jwt,
      body: { limit_daily_ngonka: limit.toString() },
    });
    expect(lowered.status).toBe(200);
    const percent = (spent * 100n) / limit; // 150, give or take the rounding of the two thirds

    const { page, today } = await keyPage(c);
    await expect.poll(() => today.textContent()).toContain(`(${percent}%, over the limit)`);
    expect(percent).toBeGreaterThan(100n);
    expect(await today.locator('.usage-text').getAttribute('class')).toContain('over');
    // The bar stays within its box, full, in the colour of a limit reached.
    const bar = today.locator('.bar');
    expect(await bar.getAttribute('class')).toContain('bar-danger');
    expect(await bar.locator('.fill').evaluate((el) => (el as HTMLElement).style.width)).toBe('100%');
    await screenshot(page, 'child-key-over-limit');

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });

  it('moves a child key’s usage on its page as the key spends, without a reload, focus kept', async () => {
    const { url } = tabs.stack.server;
    const c = await createCustomer(tabs.stack.env.ctx, url, { child: { limit_daily_ngonka: '1000000000' } });
    const { page, today } = await keyPage(c);
    await expect.poll(() => today.textContent()).toContain('0 requests');
    const edit = page.getByRole('button', { name: 'Edit Client A' });
    await edit.focus();

    await c.openai.chat.completions.create({
      model: SIM_MODEL_QWEN3_235B,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 20,
    });
    // Settled a moment later, then shown at the page's next look (every 3 s).
    await expect.poll(() => today.textContent(), { timeout: 15_000 }).toContain('1 request');
    expect(await today.textContent()).not.toContain('0 requests');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(
      'Edit Client A',
    );
    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);

    // The server out of reach for two rounds: the page says its figures are not up to date, and
    // stops saying so once they move again.
    const note = page.locator('.live-note');
    expect(await note.textContent()).toBe('');
    await page.route(/\/children\?/, (route) => route.abort());
    await expect.poll(() => note.textContent(), { timeout: 15_000 }).toContain('not up to date');
    await page.unroute(/\/children\?/);
    await expect.poll(() => note.textContent(), { timeout: 15_000 }).toBe('');
    tabs.dash.problems.splice(0); // the aborted requests: this test's own doing
  });

  it('shows the page again, fresh, when its own link is clicked', async () => {
    const { url } = tabs.stack.server;
    const c = await createCustomer(tabs.stack.env.ctx, url);
    await tabs.open();
    const page = await signedIn(tabs.dash, c.jwt);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const balance = page.getByRole('region', { name: 'Balance' }).or(page.getByLabel('Balance'));
    const before = await balance.first().textContent();
    // Spend meanwhile, settled in the books.
    const start = (await call(url, 'GET', '/api/account', { token: c.jwt })).body.balance_ngonka;
    await c.openai.chat.completions.create({
      model: SIM_MODEL_QWEN3_235B,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 20,
    });
    await waitFor('the charge settled', async () => {
      const a = (await call(url, 'GET', '/api/account', { token: c.jwt })).body;
      return a.held_ngonka === '0' && a.balance_ngonka !== start;
    });
    expect(await balance.first().textContent()).toBe(before); // nothing polls the overview
    await page.getByRole('link', { name: 'Overview' }).click();
    await expect.poll(async () => balance.first().textContent()).not.toBe(before);
    expect(tabs.dash.problems).toEqual([]);
  });
});
