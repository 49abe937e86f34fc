import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { screenshot, signedIn, useDashboardTabs } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { signUp } from '../helpers/dashboard-keys.js';
import { call } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

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

  it('opens a charge to list the requests it billed, each with its key, model, tokens and cost', async () => {
    const { url } = tabs.stack.server;
    const c = await createCustomer(tabs.stack.env.ctx, url);
    const answers = await Promise.all(
      ['Hi', 'Hello there'].map((content) =>
        c.openai.chat.completions.create({
          model: SIM_MODEL_QWEN3_235B,
          messages: [{ role: 'user', content }],
          max_tokens: 20,
        }),
      ),
    );
    const charges = await waitFor('both requests settled', async () => {
      const page = (await call(url, 'GET', '/api/account/ledger', { token: c.jwt })).body;
      const found = page.data.filter((e: { kind: string }) => e.kind === 'charge');
      const billed = found.reduce(
        (n: number, e: { metadata: { requests: number } }) => n + e.metadata.requests,
        0,
      );
      return billed === 2 && found;
    });
    // The newest charge (one settlement batch may have billed both requests, or each its own).
    const charge = charges[0];
    const detail = (await call(url, 'GET', `/api/account/ledger/${charge.id}`, { token: c.jwt })).body;

    await tabs.open();
    const page = await signedIn(tabs.dash, c.jwt);
    const rows = page.getByRole('table', { name: 'Ledger entries, newest first' }).locator('tbody tr');
    const n = charge.metadata.requests;
    await rows
      .first()
      .getByRole('button', { name: `${n} ${n === 1 ? 'request' : 'requests'}` })
      .click();
    expect(charge.ref).toMatch(/^chg_/);
    const dialog = page.getByRole('dialog', { name: `Charge ${charge.ref}` });
    const listed = dialog.getByRole('table', { name: 'Requests billed by this charge' }).locator('tbody tr');
    await expect.poll(() => listed.count()).toBe(n);
    const intro = await dialog.locator('.intro').textContent();
    expect(intro).toMatch(
      new RegExp(
        `^[0-9.]+ GNK \\(${BigInt(charge.amount_ngonka).toLocaleString('en-US')} nGNK\\) for ${n} requests?, settled [A-Z][a-z]{2} \\d`,
      ),
    );
    const texts = await listed.allTextContents();
    const ids = new Set(answers.map((a) => a.id));
    for (const [i, r] of detail.requests.entries()) {
      expect(ids.has(r.id)).toBe(true); // the completion ids the client saw
      expect(texts[i]).toContain(r.id);
      expect(texts[i]).toContain('Client A');
      expect(texts[i]).toContain(SIM_MODEL_QWEN3_235B);
      expect(texts[i]).toContain(`${BigInt(r.cost_ngonka).toLocaleString('en-US')} nGNK`);
    }
    await screenshot(page, 'charge-detail');
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.count()).toBe(0);
    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });

  it("says what a referral entry is: the account's share of a referred account's charge", async () => {
    const { url } = tabs.stack.server;
    const register = async (referral_code?: string) => {
      const email = `ref-${Math.random().toString(36).slice(2, 10)}@example.com`;
      const res = await call(url, 'POST', '/api/auth/register', {
        body: { email, password: 'correct horse battery', ...(referral_code ? { referral_code } : {}) },
      });
      expect(res.body).toMatchObject({ token: expect.any(String) });
      return { email, jwt: res.body.token as string, code: res.body.account.referral_code as string };
    };
    const referrer = await register();
    const { email, jwt } = await register(referrer.code);
    await call(url, 'POST', '/api/admin/topups', {
      token: tabs.stack.env.config.ADMIN_TOKEN!,
      body: { email, amount_ngonka: '1000000000', reference: `ref-${email}` },
    });
    const mk = (await call(url, 'POST', '/api/management/keys', { token: jwt, body: { name: 'B' } })).body;
    const child = (
      await call(url, 'POST', `/api/management/keys/${mk.id}/children`, {
        token: mk.key,
        body: { name: 'b' },
      })
    ).body;
    const chat = await call(url, 'POST', '/v1/chat/completions', {
      token: child.key,
      body: { model: SIM_MODEL_QWEN3_235B, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20 },
    });
    expect(chat.status).toBe(200);
    const payout = await waitFor('the referral paid', async () => {
      const page = (await call(url, 'GET', '/api/account/ledger', { token: referrer.jwt })).body;
      return page.data.find((e: { kind: string }) => e.kind === 'referral') ?? null;
    });

    await tabs.open();
    const page = await signedIn(tabs.dash, referrer.jwt);
    const row = page
      .getByRole('table', { name: 'Ledger entries, newest first' })
      .locator('tbody tr')
      .filter({ hasText: 'referral' });
    await expect.poll(() => row.count()).toBe(1);
    const said = /your share of a referred account's charge of ([\d.]+) GNK/.exec(
      (await row.textContent()) ?? '',
    );
    expect(Number(said?.[1]) * 1e9).toBeCloseTo(Number(payout.metadata.charge_ngonka), 3);
    expect(tabs.dash.problems).toEqual([]);
  });
});
