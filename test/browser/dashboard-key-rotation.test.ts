import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { screenshot, useDashboardTabs } from '../helpers/browser.js';
import { createManagementKey, jwtOf, signUp, visibleText } from '../helpers/dashboard-keys.js';
import { call, chatWith } from '../helpers/http.js';

const tabs = useDashboardTabs();

async function chatStatus(key: string): Promise<number | string> {
  const { status, body } = await chatWith(tabs.stack.server.url, key, SIM_MODEL_QWEN3_235B);
  return status === 200 ? 200 : `${status} ${body.error?.code}`;
}

describe('dashboard: rotating keys', () => {
  it('gives the key a new secret with a grace, then ends the grace at once', async () => {
    const page = await tabs.open();
    const email = await signUp(page);
    await call(tabs.stack.server.url, 'POST', '/api/admin/topups', {
      token: tabs.stack.env.config.ADMIN_TOKEN!,
      body: { email, amount_ngonka: '5000000000', reference: `rotate-${email}` },
    });
    await createManagementKey(page, 'My SaaS');
    await page.getByRole('link', { name: 'My SaaS' }).click();
    await page.getByRole('button', { name: 'Create child key' }).click();
    const form = page.getByRole('dialog', { name: /New child key/ });
    await form.getByLabel('Name').fill('Customer 7');
    await form.getByLabel('Daily limit (GNK)').fill('1');
    await form.getByRole('button', { name: 'Create child key' }).click();
    const created = page.getByRole('dialog', { name: 'Child key created' });
    const first = await created.getByRole('textbox', { name: 'Your new child key' }).inputValue();
    await created.getByRole('button', { name: 'I have stored the key' }).click();
    expect(await chatStatus(first)).toBe(200);

    // With a grace: both secrets work, and the row's prefix is the new one's.
    await page.getByRole('button', { name: 'Rotate Customer 7' }).click();
    const rotate = page.getByRole('dialog', { name: 'Rotate Customer 7' });
    await rotate.getByLabel('The old key stops working').selectOption({ label: 'In 1 hour' });
    await screenshot(page, 'child-key-rotate-dialog');
    await rotate.getByRole('button', { name: 'Rotate key' }).click();
    const rotated = page.getByRole('dialog', { name: 'Child key rotated' });
    const second = await rotated.getByRole('textbox', { name: 'Customer 7’s new key' }).inputValue();
    expect(second).toMatch(/^gc-/);
    expect(second).not.toBe(first);
    await rotated.getByRole('button', { name: 'I have stored the key' }).click();
    await expect.poll(() => page.locator('dialog').count()).toBe(0);
    const row = page.getByRole('row', { name: /Customer 7/ });
    await expect.poll(() => row.textContent()).toContain(second.slice(0, 6));
    expect(await visibleText(page)).not.toContain(second);
    // The row says the old key still works, and until when.
    await expect.poll(() => row.textContent()).toContain('Old key also works until');
    expect(await chatStatus(first)).toBe(200);
    expect(await chatStatus(second)).toBe(200);

    // Rotating again while the grace runs offers only "at once", and stops every older secret.
    await page.getByRole('button', { name: 'Rotate Customer 7' }).click();
    const again = page.getByRole('dialog', { name: 'Rotate Customer 7' });
    await expect.poll(() => again.textContent()).toContain('still works until');
    await again.getByRole('button', { name: 'Rotate key' }).click();
    const third = await page
      .getByRole('dialog', { name: 'Child key rotated' })
      .getByRole('textbox', { name: 'Customer 7’s new key' })
      .inputValue();
    await page.getByRole('button', { name: 'I have stored the key' }).click();
    expect(await chatStatus(first)).toBe('401 key_revoked');
    expect(await chatStatus(second)).toBe('401 key_revoked');
    expect(await chatStatus(third)).toBe(200);
    await expect.poll(() => row.textContent()).not.toContain('Old key also works until');

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });

  it('gives a management key a new secret; the old one stops (at once, or after a grace), its child keys stay', async () => {
    const page = await tabs.open();
    await signUp(page);
    const old = await createManagementKey(page, 'Backend');
    const mks = await call(tabs.stack.server.url, 'GET', '/api/management/keys', {
      token: await jwtOf(page),
    });
    const mkId = mks.body.data[0].id as string;
    const children = `/api/management/keys/${mkId}/children`;
    expect(
      (await call(tabs.stack.server.url, 'POST', children, { token: old, body: { name: 'C' } })).status,
    ).toBe(201);

    const rotateIn = async (grace: string) => {
      await page.getByRole('button', { name: 'Rotate Backend' }).click();
      const dialog = page.getByRole('dialog', { name: 'Rotate Backend' });
      if (grace) await dialog.getByLabel('The old key stops working').selectOption({ label: grace });
      await dialog.getByRole('button', { name: 'Rotate key' }).click();
      const rotated = page.getByRole('dialog', { name: 'Management key rotated' });
      const key = await rotated.getByRole('textbox', { name: 'Backend’s new key' }).inputValue();
      await rotated.getByRole('button', { name: 'I have stored the key' }).click();
      await expect.poll(() => page.locator('dialog').count()).toBe(0);
      await expect
        .poll(() => page.getByRole('row', { name: /Backend/ }).textContent())
        .toContain(key.slice(0, 6));
      return key;
    };
    // A planned rotation: both secrets work for an hour, and the row says until when.
    const second = await rotateIn('In 1 hour');
    await expect
      .poll(() => page.getByRole('row', { name: /Backend/ }).textContent())
      .toContain('Old key also works until');
    for (const k of [old, second])
      expect((await call(tabs.stack.server.url, 'GET', children, { token: k })).status).toBe(200);
    // A second rotation while that grace runs can only stop the old secrets at once.
    await page.getByRole('button', { name: 'Rotate Backend' }).click();
    await expect
      .poll(() => page.getByRole('dialog', { name: 'Rotate Backend' }).textContent())
      .toContain('still works until');
    await page
      .getByRole('dialog', { name: 'Rotate Backend' })
      .getByRole('button', { name: 'Cancel' })
      .click();
    const key = await rotateIn('');
    await expect
      .poll(() => page.getByRole('row', { name: /Backend/ }).textContent())
      .not.toContain('Old key also works until');

    for (const k of [old, second])
      expect((await call(tabs.stack.server.url, 'GET', children, { token: k })).status).toBe(401);
    const listed = await call(tabs.stack.server.url, 'GET', children, { token: key });
    expect(listed.body.data.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([
      ['C', 'active'],
    ]);
    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });
});
