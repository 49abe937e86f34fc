import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { recordDeliveryAttempt } from '../../shared/db/queries/webhook-deliveries.js';
import { newId } from '../../shared/ids.js';
import { pruneDeliveries } from '../../shared/webhooks/prune.js';
import { createTestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { insertWebhookEndpoint, queuedLater } from '../helpers/webhook-deliveries.js';

/**
 * Ended webhook deliveries (a payload each: a whole job answer, once per destination) are deleted
 * WEBHOOK_DELIVERY_RETENTION_DAYS after they ended, their attempts with them; pending ones never.
 */
const clock = new ManualClock('2027-05-01T03:17:00.000Z');
let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv({ clock, env: { WEBHOOK_DELIVERY_RETENTION_DAYS: '30' } });
});
afterAll(async () => {
  await env?.close();
});

describe('webhook delivery retention', () => {
  it('deletes deliveries that ended before the retention, with their attempts, and keeps the rest', async () => {
    const acct = await createTestAccount(env.ctx);
    const e = await insertWebhookEndpoint(env.ctx.sql, {
      id: newId('whe'),
      accountId: acct.id,
      url: 'https://hooks.example.com/x',
      events: ['*'],
      secret: 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=',
      createdAt: clock.now(),
    });
    const delivery = async (status: string, endedDaysAgo: number) => {
      const id = await queuedLater(env.ctx, acct.id, e.id, e.url, clock.now());
      const at = new Date(clock.now().getTime() - endedDaysAgo * 86_400_000);
      await recordDeliveryAttempt(env.ctx.sql, {
        deliveryId: id,
        attempt: 1,
        statusCode: status === 'pending' ? 500 : 200,
        error: null,
        durationMs: 5,
        at,
        status: status as 'pending' | 'succeeded' | 'failed' | 'disabled',
        nextAttemptAt: status === 'pending' ? clock.now() : null,
      });
      return id;
    };
    const old = [
      await delivery('succeeded', 31),
      await delivery('failed', 45),
      await delivery('disabled', 31),
    ];
    const kept = [await delivery('succeeded', 29), await delivery('pending', 90)];

    expect(await pruneDeliveries(env.ctx)).toBe(3);
    const left = await env.ctx.sql<{ id: string }[]>`
      select id from webhook_deliveries where account_id = ${acct.id} order by id`;
    expect(left.map((r) => r.id).sort()).toEqual([...kept].sort());
    const attempts = await env.ctx
      .sql`select 1 from webhook_attempts where delivery_id = any(${old}::text[])`;
    expect(attempts).toHaveLength(0);
    expect(await pruneDeliveries(env.ctx)).toBe(0);
  });
});
