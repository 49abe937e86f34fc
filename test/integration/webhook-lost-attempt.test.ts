import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDeliveryAttempt, LOST_ATTEMPT } from '../../shared/db/queries/webhook-deliveries.js';
import { listDeliveryAttempts } from '../../shared/db/queries/webhook-delivery-log.js';
import { attemptDelivery } from '../../shared/webhooks/deliver.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { deliveryRow, pendingDelivery } from '../helpers/webhook-deliveries.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

// A workers process killed mid-delivery: its attempt was claimed (counted) and never recorded. The
// next attempt, once the lease is over, says so in the log rather than leave a gap in it.
let env: TestEnv;
let receiver: WebhookReceiver;
beforeAll(async () => {
  env = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await env?.close();
});

describe('an attempt whose worker died', () => {
  it('is in the delivery log as lost, dated when it was claimed, before the attempt after it', async () => {
    const { id, path } = await pendingDelivery(env.ctx, receiver, new Date(Date.now() - 60_000));
    // The dead worker's claim: attempt 1 counted, its lease (here already over) never followed by a record.
    const claimedAt = new Date(Date.now() - 30_000);
    expect(await claimDeliveryAttempt(env.ctx.sql, id, 0, claimedAt, new Date(Date.now() - 1_000))).toBe(1);
    receiver.plan(path, [200]);

    const outcome = await attemptDelivery(env.ctx, id, { schedule: [1_000], timeoutMs: 5_000 });
    expect(outcome).toMatchObject({ kind: 'done', status: 'succeeded', attempt: 2 });
    const log = await listDeliveryAttempts(env.ctx.sql, [id]);
    expect(log.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, null, LOST_ATTEMPT],
      [2, 200, null],
    ]);
    expect(log[0]!.at.getTime()).toBe(claimedAt.getTime());
    expect(await deliveryRow(env.ctx, id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(receiver.at(path)).toHaveLength(1);
  });

  it('leaves an attempt that was recorded as it was', async () => {
    const { id, path } = await pendingDelivery(env.ctx, receiver, new Date(Date.now() - 60_000));
    receiver.plan(path, [500, 200]);
    const policy = { schedule: [0, 0], timeoutMs: 5_000 };
    expect(await attemptDelivery(env.ctx, id, policy)).toMatchObject({ kind: 'retry', attempt: 1 });
    expect(await attemptDelivery(env.ctx, id, policy)).toMatchObject({ kind: 'done', attempt: 2 });
    const log = await listDeliveryAttempts(env.ctx.sql, [id]);
    expect(log.map((a) => [a.attempt, a.status_code])).toEqual([
      [1, 500],
      [2, 200],
    ]);
  });
});
