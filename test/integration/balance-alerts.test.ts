import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { signSession } from '../../shared/jwt.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { topup } from '../../shared/ledger/topup.js';
import { balanceAlerts } from '../../shared/scheduler/tasks/balance-alerts.js';
import { createTestAccount } from '../helpers/accounts.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';
import { deliveriesOf, hold, schedulerEnv, subscribeAll } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
const w = schedulerEnv(clock);
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(w.env.ctx);
});
afterAll(async () => {
  await server?.close();
});

/** The account's owner session, as the dashboard holds it. */
const ownerToken = (f: KeyFixture) => signSession(w.env.config.JWT_SECRET, f.accountId, 3600);

const setAlert = async (f: KeyFixture, value: unknown) =>
  call(server.url, 'PATCH', '/api/account', {
    token: await ownerToken(f),
    body: { low_balance_alert_ngonka: value },
  });

async function spend(f: KeyFixture, cost: number): Promise<void> {
  const id = await hold(w.env.ctx, f.key, BigInt(cost));
  await settleHolds(w.env.ctx, [{ holdId: id, outcome: 'post', promptTokens: cost, completionTokens: 0 }]);
}

const alerts = async (f: KeyFixture) =>
  (await deliveriesOf(w.env.ctx, f.accountId, 'account.low_balance')).map((d) => d.payload.data);

describe('low-balance alert', () => {
  it('is set, shown and turned off with PATCH /api/account; bad values are 400s naming the field', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 1000n });
    const token = await ownerToken(f);
    expect(
      (await call(server.url, 'GET', '/api/account', { token })).body.low_balance_alert_ngonka,
    ).toBeNull();
    const set = await setAlert(f, '500');
    expect([set.status, set.body.low_balance_alert_ngonka, set.body.balance_ngonka]).toEqual([
      200,
      '500',
      '1000',
    ]);
    expect((await call(server.url, 'GET', '/api/account', { token })).body.low_balance_alert_ngonka).toBe(
      '500',
    );
    for (const bad of ['-1', 'abc', 1.5, '01', true]) {
      const res = await setAlert(f, bad);
      expect([res.status, res.body.error.param]).toEqual([400, 'low_balance_alert_ngonka']);
    }
    const extra = await call(server.url, 'PATCH', '/api/account', { token, body: { email: 'x@y.z' } });
    expect([extra.status, extra.body.error.param]).toEqual([400, 'email']);
    const none = await call(server.url, 'PATCH', '/api/account', { token, body: {} });
    expect([none.status, none.body.error.message]).toEqual([
      400,
      expect.stringMatching(/low_balance_alert_ngonka/),
    ]);
    expect((await setAlert(f, null)).body.low_balance_alert_ngonka).toBeNull();
    // Only the owner's session: a key is no owner.
    const byKey = await call(server.url, 'PATCH', '/api/account', {
      token: f.plainKey,
      body: { low_balance_alert_ngonka: '1' },
    });
    expect(byKey.status).toBe(403);
  });

  it('sends account.low_balance once when the balance falls below it, and again only after a top-up re-armed it', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 1000n });
    await subscribeAll(w.env.ctx, f.accountId);
    expect((await setAlert(f, '500')).status).toBe(200);
    await spend(f, 400); // 600 left: above
    expect(await balanceAlerts(w.env.ctx, w.queues)).toMatchObject({ raised: 0 });

    await spend(f, 200); // 400 left: below
    const open = await hold(w.env.ctx, f.key, 50n); // a request running: available shows it
    expect((await balanceAlerts(w.env.ctx, w.queues)).raised).toBe(1);
    expect(await alerts(f)).toEqual([
      { account_id: f.accountId, balance_ngonka: '400', available_ngonka: '350', threshold_ngonka: '500' },
    ]);
    // Still below, even lower: once per fall.
    await settleHolds(w.env.ctx, [{ holdId: open, outcome: 'post', promptTokens: 50, completionTokens: 0 }]);
    await balanceAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toHaveLength(1);

    // A top-up that does not reach the threshold re-arms nothing; one that does, re-arms it.
    await topup(w.env.ctx, { accountId: f.accountId, amount: 100n, reference: `small-${f.accountId}` });
    await balanceAlerts(w.env.ctx, w.queues);
    expect(await alerts(f)).toHaveLength(1);
    await topup(w.env.ctx, { accountId: f.accountId, amount: 600n, reference: `big-${f.accountId}` });
    clock.advance(30_000);
    await balanceAlerts(w.env.ctx, w.queues); // 1050: above, armed again
    await spend(f, 600); // 450: below again
    clock.advance(30_000);
    await balanceAlerts(w.env.ctx, w.queues);
    expect((await alerts(f)).map((a) => a.balance_ngonka)).toEqual(['400', '450']);
  });

  it('says nothing for an account without an alert, and alerts at once an account already below a new one', async () => {
    const quiet = await createKeyFixture(w.env.ctx, { balance: 10n });
    await subscribeAll(w.env.ctx, quiet.accountId);
    const empty = await createTestAccount(w.env.ctx); // a balance of 0, no alert either
    await subscribeAll(w.env.ctx, empty.id);
    await balanceAlerts(w.env.ctx, w.queues);
    expect(await alerts(quiet)).toEqual([]);
    expect(await deliveriesOf(w.env.ctx, empty.id, 'account.low_balance')).toEqual([]);

    await setAlert(quiet, '1000000000');
    await balanceAlerts(w.env.ctx, w.queues);
    expect(await alerts(quiet)).toEqual([expect.objectContaining({ balance_ngonka: '10' })]);
  });
});
