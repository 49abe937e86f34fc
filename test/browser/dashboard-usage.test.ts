import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { openDashboard, screenshot, signedIn, useStackAndBrowser } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The Usage page: what the account's keys settled over a range of UTC days, by day, child key or
 * model, for the account or one management key, with totals and a CSV to bill customers from; the
 * figures are the API's (`/api/account/usage`, `/api/management/keys/:id/usage`).
 */
const sb = useStackAndBrowser();

describe('dashboard: usage', () => {
  it('shows settled usage by day, key and model with its total, filters by management key, and downloads it', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url);
    for (let i = 0; i < 3; i++)
      await c.openai.chat.completions.create({
        model: SIM_MODEL_QWQ_32B,
        messages: [{ role: 'user', content: `hello ${i}` }],
        max_tokens: 8,
      });
    const usage = await waitFor('three requests settled', async () => {
      const r = await call(sb.stack.server.url, 'GET', '/api/account/usage?group_by=key', { token: c.jwt });
      return r.body.data[0]?.requests === 3 ? r.body : null;
    });
    const [row] = usage.data;
    const other = await call(sb.stack.server.url, 'POST', '/api/management/keys', {
      token: c.jwt,
      body: { name: 'Idle' },
    });

    const dash = await openDashboard(sb.browser, sb.stack.server.url);
    const page = await signedIn(dash, c.jwt);
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
    const region = (by: string) => page.getByRole('region', { name: new RegExp(`^Usage by ${by}, `) });
    const cellsOf = (by: string) =>
      region(by)
        .locator('tbody tr')
        .evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent?.trim())));

    // By day (the default): today's row, and the total.
    await expect.poll(() => cellsOf('day')).toHaveLength(2);
    const [today, total] = await cellsOf('day');
    expect(today?.[0]).toBe(usage.to);
    expect(today?.slice(1, 4)).toEqual(['3', String(row.prompt_tokens), String(row.completion_tokens)]);
    expect(today?.[4]).toContain(`${BigInt(row.cost_ngonka).toLocaleString('en-US')} nGNK`);
    expect(total?.[0]).toBe('Total');
    expect(total?.slice(1)).toEqual(today?.slice(1));
    expect(await page.getByLabel('From (UTC)').inputValue()).toBe(usage.from);
    expect(await page.getByLabel('To (UTC)').inputValue()).toBe(usage.to);
    await screenshot(page, 'usage-by-day');

    // By child key: its name and management key; the URL keeps the choice.
    await page.getByLabel('Group by').selectOption('key');
    await expect.poll(async () => (await cellsOf('child key'))[0]?.[0]).toBe('Client A (My SaaS)');
    expect(page.url()).toContain('group_by=key');
    // The CSV: exact nGNK, the key's id and name.
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    expect(file.suggestedFilename()).toBe(`usage-key-${usage.from}-${usage.to}.csv`);
    expect(await readFile((await file.path())!, 'utf8')).toBe(
      'key_id,key_name,requests,prompt_tokens,completion_tokens,cost_ngonka\n' +
        `${row.key_id},Client A (My SaaS),3,${row.prompt_tokens},${row.completion_tokens},${row.cost_ngonka}\n`,
    );

    await page.getByLabel('Group by').selectOption('model');
    await expect.poll(async () => (await cellsOf('model'))[0]?.[0]).toBe(SIM_MODEL_QWQ_32B);

    // One management key: the one without traffic has nothing.
    await page.getByLabel('Management key').selectOption(other.body.id);
    await page.getByText(/^Nothing was settled from /).waitFor();
    await page.getByLabel('Management key').selectOption(c.mkId);
    await expect.poll(async () => (await cellsOf('model'))[0]?.[0]).toBe(SIM_MODEL_QWQ_32B);

    // A management key's page leads to its usage by child key.
    await page.goto(`/dashboard/#/keys/${c.mkId}`);
    await page.getByRole('link', { name: 'usage by child key' }).click();
    await expect.poll(async () => (await cellsOf('child key'))[0]?.[0]).toBe('Client A (My SaaS)');
    expect(await page.getByLabel('Management key').inputValue()).toBe(c.mkId);

    // A range the API refuses says why.
    await page.getByLabel('From (UTC)').fill('2020-01-01');
    await page
      .getByRole('alert')
      .filter({ hasText: /at most 366 days/ })
      .waitFor();
    expect(dash.problems).toEqual([]);
    await dash.close();
  });
});
