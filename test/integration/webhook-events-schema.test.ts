import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isoString } from '../../api/schemas/common.js';
import { webhookEventData } from '../../api/schemas/webhook-events.js';
import { setLowBalanceAlert } from '../../shared/db/queries/balance-alerts.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { balanceAlerts } from '../../shared/scheduler/tasks/balance-alerts.js';
import { expireKeys } from '../../shared/scheduler/tasks/expire-keys.js';
import { limitAlerts } from '../../shared/scheduler/tasks/limit-alerts.js';
import type { WebhookEventType } from '../../shared/webhooks/events.js';
import { startBatch } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { submitJob } from '../helpers/jobs.js';
import { deliveriesOf, hold, subscribeAll } from '../helpers/scheduler.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const stack = useTestStack();

/** An event's body as /openapi.json's `webhooks` describe it, nothing more and nothing less. */
function documented(type: WebhookEventType) {
  const data = webhookEventData[type];
  return z
    .object({
      type: z.literal(type),
      timestamp: isoString,
      data: data instanceof z.ZodObject ? data.strict() : data,
    })
    .strict();
}

describe('webhook events as /openapi.json documents them', () => {
  it('each kind of event the gateway sends has exactly the body its schema says', async () => {
    const { ctx } = stack.env;
    const { url } = stack.server;
    const { queues } = stack.deps;
    // A job and a batch, run by the workers.
    const c = await createCustomer(ctx, url);
    await subscribeAll(ctx, c.accountId);
    await submitJob(url, c.childKey, {
      model: 'Qwen/QwQ-32B',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
    });
    await startBatch(url, c.childKey, 1);
    // A key past 80% and 100% of its daily limit, one past its expiry, and an account below its alert.
    const f = await createKeyFixture(ctx, { balance: 1000n, limitDaily: 100n });
    await subscribeAll(ctx, f.accountId);
    const spent = await hold(ctx, f.key, 100n);
    await settleHolds(ctx, [{ holdId: spent, outcome: 'post', promptTokens: 100, completionTokens: 0 }]);
    await limitAlerts(ctx, queues);
    const old = await createKeyFixture(ctx, { expiresAt: new Date(Date.now() - 1000) });
    await subscribeAll(ctx, old.accountId);
    await expireKeys(ctx, queues);
    await setLowBalanceAlert(ctx.sql, f.accountId, 5000n);
    await balanceAlerts(ctx, queues);

    const sent = await waitFor('every kind of event', async () => {
      const all = [
        ...(await deliveriesOf(ctx, c.accountId)),
        ...(await deliveriesOf(ctx, f.accountId)),
        ...(await deliveriesOf(ctx, old.accountId)),
      ];
      const kinds = new Set(all.map((d) => d.event_type));
      const wanted = [
        'job.succeeded',
        'batch.completed',
        'key.limit_threshold',
        'key.expired',
        'account.low_balance',
      ];
      return wanted.every((k) => kinds.has(k)) ? all : null;
    });
    for (const d of sent) {
      const parsed = documented(d.event_type as WebhookEventType).safeParse(d.payload);
      expect(parsed.error?.issues ?? [], d.event_type).toEqual([]);
    }
  });
});
