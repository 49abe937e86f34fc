import { describe, expect, it } from 'vitest';
import { openDashboard, signedIn, useStackAndBrowser } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';

// The webhooks page's own management of an endpoint: turning it off and on, and rotating secrets.
const sb = useStackAndBrowser({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });

describe('dashboard: managing a webhook endpoint', () => {
  it('turns an endpoint off and on, and rotates its secret and the job-hook secret', async () => {
    const c = await createCustomer(sb.stack.env.ctx, sb.stack.server.url, { balance: 1_000_000_000n });
    const url = 'http://127.0.0.1:9/manage-hooks';
    const created = await call(sb.stack.server.url, 'POST', '/api/webhooks', {
      token: c.jwt,
      body: { url, events: ['*'] },
    });
    const endpoint = async () =>
      (await call(sb.stack.server.url, 'GET', '/api/webhooks', { token: c.jwt })).body.data[0];
    const page = await signedIn(await openDashboard(sb.browser, sb.stack.server.url), c.jwt);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    const row = page.getByRole('row', { name: new RegExp(url) });

    await row.getByRole('button', { name: `Turn off endpoint ${url}` }).click();
    await page
      .getByRole('dialog', { name: 'Turn this endpoint off?' })
      .getByRole('button', { name: 'Turn off' })
      .click();
    await expect.poll(() => row.textContent()).toMatch(/Disabled by the owner, /);
    // Its time in the viewer's own form, as every other time on the page, not the API's ISO string.
    expect(await row.locator('time').first().getAttribute('datetime')).toMatch(/Z$/);
    expect(await row.textContent()).not.toMatch(/\d{4}-\d\d-\d\dT/);
    expect((await endpoint()).status).toBe('disabled');

    await row.getByRole('button', { name: `Turn on endpoint ${url}` }).click();
    await page
      .getByRole('dialog', { name: 'Turn this endpoint on?' })
      .getByRole('button', { name: 'Turn on' })
      .click();
    await row.getByRole('button', { name: `Turn off endpoint ${url}` }).waitFor();
    expect(await endpoint()).toMatchObject({ status: 'active', disabled_reason: null });

    // Its URL and events, edited in place: the form shows what it has.
    await row.getByRole('button', { name: `Edit endpoint ${url}` }).click();
    const editForm = page.getByRole('dialog', { name: 'Edit webhook endpoint' });
    expect(await editForm.getByLabel('Endpoint URL').inputValue()).toBe(url);
    expect(await editForm.getByLabel(/All events/).isChecked()).toBe(true);
    const moved = 'http://127.0.0.1:9/moved-hooks';
    // A URL that is none and no event: both said at once, focus on the first.
    await editForm.getByLabel('Endpoint URL').fill('not a url');
    await editForm.getByLabel(/All events/).uncheck();
    await editForm.getByRole('button', { name: 'Save endpoint' }).click();
    await expect
      .poll(() => editForm.locator('fieldset .field-error').textContent())
      .toMatch(/at least one event/);
    expect(await editForm.locator('[data-field="url"] .field-error').textContent()).toMatch(
      /Must be an absolute URL/,
    );
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('url');
    await editForm.getByLabel('Endpoint URL').fill(moved);
    await editForm.getByRole('button', { name: 'Save endpoint' }).click();
    await expect.poll(() => editForm.locator('[data-field="url"] .field-error').textContent()).toBe('');
    expect(await editForm.locator('fieldset .field-error').textContent()).toMatch(/at least one event/);
    await editForm.getByLabel('A job failed (job.failed)').check();
    await editForm.getByRole('button', { name: 'Save endpoint' }).click();
    await page.getByRole('row', { name: new RegExp(moved) }).waitFor();
    expect(await endpoint()).toMatchObject({ url: moved, events: ['job.failed'] });
    const movedRow = page.getByRole('row', { name: new RegExp(moved) });
    await movedRow.getByRole('button', { name: `Edit endpoint ${moved}` }).click();
    const back = page.getByRole('dialog', { name: 'Edit webhook endpoint' });
    await back.getByLabel('Endpoint URL').fill(url);
    await back.getByLabel(/All events/).check();
    await back.getByRole('button', { name: 'Save endpoint' }).click();
    await row.waitFor();
    // Focus is back on the row's Edit button, as after every edit dialog, not left on the page.
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
      .toBe(`Edit endpoint ${url}`);

    // Rotation keeps the old secret signing for a day, which the row then says.
    await row.getByRole('button', { name: `Rotate the signing secret of ${url}` }).click();
    const form = page.getByRole('dialog', { name: 'Rotate signing secret' });
    await form.getByRole('button', { name: 'Rotate secret' }).click();
    const reveal = page.getByRole('dialog', { name: 'New signing secret' });
    const secret = await reveal.getByRole('textbox', { name: 'Signing secret' }).inputValue();
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(created.body.secret);
    await reveal.getByRole('button', { name: 'I have stored the secret' }).click();
    await expect.poll(() => row.textContent()).toMatch(/Old secret also signs until/);
    expect((await endpoint()).previous_secret_expires_at).not.toBeNull();

    // Again within that day: the dialog says what that does, and only the newest secret then signs.
    await row.getByRole('button', { name: `Rotate the signing secret of ${url}` }).click();
    const again = page.getByRole('dialog', { name: 'Rotate signing secret' });
    await again.getByText(/stops every secret but the new one at once/).waitFor();
    await again.getByRole('button', { name: 'Rotate secret' }).click();
    const newest = await page
      .getByRole('dialog', { name: 'New signing secret' })
      .getByRole('textbox', { name: 'Signing secret' })
      .inputValue();
    await page.getByRole('button', { name: 'I have stored the secret' }).click();
    await expect.poll(() => row.textContent()).not.toMatch(/Old secret also signs until/);
    expect(newest).not.toBe(secret);
    expect((await endpoint()).previous_secret_expires_at).toBeNull();

    // The job-hook secret, rotated as leaked: the old one stops at once.
    const before = await call(sb.stack.server.url, 'GET', '/api/webhooks/default-secret', { token: c.jwt });
    await page.getByRole('button', { name: 'Rotate signing secret' }).click();
    const jobForm = page.getByRole('dialog', { name: 'Rotate the webhook_url signing secret' });
    await jobForm.getByLabel('It leaked: stop signing with it now').check();
    await jobForm.getByRole('button', { name: 'Rotate secret' }).click();
    const shown = await page
      .getByRole('dialog', { name: 'New signing secret' })
      .getByRole('textbox', { name: 'Signing secret' })
      .inputValue();
    const after = await call(sb.stack.server.url, 'GET', '/api/webhooks/default-secret', { token: c.jwt });
    expect(after.body).toEqual({ secret: shown, previous_secret_expires_at: null });
    expect(shown).not.toBe(before.body.secret);
  });
});
