import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HostLookup } from '../../shared/host-lookup.js';
import { createQueues, type Queues } from '../../shared/queues.js';
import { emitEvent } from '../../shared/webhooks/emit.js';
import { resumeStalledDeliveries } from '../../shared/webhooks/resume.js';
import { defaultWebhookSecret } from '../../shared/webhooks/secrets.js';
import { startWorkers } from '../../workers/index.js';
import { startWebhookWorker } from '../../workers/webhooks.js';
import { createTestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { waitFor } from '../helpers/wait.js';
import {
  deliveryRow,
  newPath,
  pause,
  pendingDelivery,
  queuedLater,
  settledRow,
} from '../helpers/webhook-deliveries.js';
import { type Answer, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

// When a delivery's attempt runs: once however often it was queued, not before it is due, within
// its timeout however slow the DNS, and again after its queue job failed. Real Postgres, Redis and
// BullMQ; the receiver verifies every delivery with the standardwebhooks library.
const TIMEOUT_MS = 500;
let env: TestEnv;
let queues: Queues;
let receiver: WebhookReceiver;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  env = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  receiver = await startWebhookReceiver();
  queues = createQueues(env.ctx);
  stop = startWorkers(env.ctx, { webhooks: { schedule: [50, 50, 50], timeoutMs: TIMEOUT_MS } });
});
// Every delivery must verify; checked per test (then forgotten) so a failure names its test.
afterEach(() => {
  const unverified = receiver.received.filter((r) => !r.verified);
  receiver.received.splice(0);
  expect(unverified).toEqual([]);
});
afterAll(async () => {
  await stop?.();
  await queues?.close();
  await receiver?.close();
  await env?.close();
});

describe('a delivery queued more than once', () => {
  // Workers down: jobs pile up in the queue until one starts.
  let idle: TestEnv;
  let idleQueues: Queues;
  beforeAll(async () => {
    idle = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
    idleQueues = createQueues(idle.ctx);
  });
  afterAll(async () => {
    await idleQueues?.close();
    await idle?.close();
  });

  it('makes one attempt however often the sweeper re-queued it while workers were down', async () => {
    const { id, path } = await pendingDelivery(idle.ctx, receiver, new Date(Date.now() - 600_000));
    receiver.plan(path, [500, 500, 500, 500, 500, 500]);
    for (let i = 0; i < 5; i++) expect(await resumeStalledDeliveries(idle.ctx, idleQueues)).toBe(1);
    const worker = startWebhookWorker(idle.ctx, { schedule: [60_000, 60_000, 60_000, 60_000, 60_000] });
    try {
      await waitFor('the first attempt', async () => (await deliveryRow(idle.ctx, id)).last_status_code);
      await pause(300);
      expect(receiver.at(path)).toHaveLength(1);
      const row = await deliveryRow(idle.ctx, id);
      expect(row).toMatchObject({ status: 'pending', attempts: 1, last_status_code: 500 });
      expect(row.next_attempt_at.getTime()).toBeGreaterThan(Date.now() + 50_000);
    } finally {
      await worker.close();
    }
  });

  it("gives one account's silent receivers only its share of the attempts in flight", async () => {
    // An env of its own: the silent receiver's attempts outlive the test.
    const own = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
    const ownQueues = createQueues(own.ctx);
    const due = new Date(Date.now() - 600_000);
    // Account A: four deliveries to a receiver that never answers, queued first.
    const a = await pendingDelivery(own.ctx, receiver, due);
    receiver.plan(a.path, ['hang', 'hang', 'hang', 'hang']);
    const first = await deliveryRow(own.ctx, a.id);
    const aIds = [a.id];
    for (let i = 0; i < 3; i++)
      aIds.push(await queuedLater(own.ctx, first.account_id, first.endpoint_id, first.url, due));
    expect(await resumeStalledDeliveries(own.ctx, ownQueues)).toBe(4);
    // Account B: one delivery to a receiver that answers, queued after them.
    const b = await pendingDelivery(own.ctx, receiver, due);
    await resumeStalledDeliveries(own.ctx, ownQueues);

    // Four slots, two per account: B's delivery need not wait for A's to time out.
    const worker = startWebhookWorker(own.ctx, {
      concurrency: 4,
      perAccount: 2,
      timeoutMs: 3_000,
      schedule: [60_000],
    });
    try {
      expect(await settledRow(own.ctx, b.id)).toMatchObject({ status: 'succeeded' });
      const aRows = await Promise.all(aIds.map((id) => deliveryRow(own.ctx, id)));
      // Still waiting on the silent receiver: no attempt of A's has ended yet.
      expect(aRows.map((r) => [r.status, r.last_error])).toEqual(aIds.map(() => ['pending', null]));
      expect(receiver.at(a.path).length).toBeLessThanOrEqual(2);
    } finally {
      await worker.close();
      await ownQueues.close();
      await own.close();
    }
  });

  it("keeps one end customer's silent job URL from its account's own endpoint and other customers' URLs", async () => {
    const own = await createTestEnv({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
    const ownQueues = createQueues(own.ctx);
    const due = new Date(Date.now() - 600_000);
    // One account: four job events to a customer's URL that never answers, queued first; then an
    // event to the account's own endpoint, and one to another customer's URL (another host).
    const endpoint = await pendingDelivery(own.ctx, receiver, due);
    const accountId = (await deliveryRow(own.ctx, endpoint.id)).account_id;
    const secret = (await defaultWebhookSecret(own.ctx, accountId)).secret;
    const silent = newPath();
    receiver.expectSecret(silent, secret);
    receiver.plan(silent, ['hang', 'hang', 'hang', 'hang']);
    const silentIds: string[] = [];
    for (let i = 0; i < 4; i++)
      silentIds.push(
        await queuedLater(own.ctx, accountId, null, `http://hang.test:${receiver.port}${silent}`, due),
      );
    const other = newPath();
    receiver.expectSecret(other, secret);
    const otherId = await queuedLater(
      own.ctx,
      accountId,
      null,
      `http://fine.test:${receiver.port}${other}`,
      due,
    );
    // The endpoint's delivery was made first: let the silent ones be queued ahead of the rest.
    await own.ctx
      .sql`update webhook_deliveries set created_at = now() + interval '1 second' where id in ${own.ctx.sql([endpoint.id, otherId])}`;
    await resumeStalledDeliveries(own.ctx, ownQueues);

    const lookupHost: HostLookup = async () => [{ address: '127.0.0.1', family: 4 }];
    const worker = startWebhookWorker(
      { ...own.ctx, lookupHost },
      { concurrency: 8, perAccount: 2, timeoutMs: 3_000, schedule: [60_000] },
    );
    try {
      expect(await settledRow(own.ctx, endpoint.id)).toMatchObject({ status: 'succeeded' });
      expect(await settledRow(own.ctx, otherId)).toMatchObject({ status: 'succeeded' });
      // Meanwhile the silent URL holds at most its half of the jobs' share, and none has ended.
      const silentRows = await Promise.all(silentIds.map((id) => deliveryRow(own.ctx, id)));
      expect(silentRows.map((r) => [r.status, r.last_error])).toEqual(silentIds.map(() => ['pending', null]));
      expect(receiver.at(silent).length).toBeLessThanOrEqual(1);
    } finally {
      await worker.close();
      await ownQueues.close();
      await own.close();
    }
  });

  /** A per-job URL on a name only `lookupHost` knows, delivered by a worker that resolves with it. */
  async function deliverVia(lookupHost: HostLookup, answers: Answer[] = []) {
    const acct = await createTestAccount(idle.ctx);
    const path = newPath();
    receiver.expectSecret(path, (await defaultWebhookSecret(idle.ctx, acct.id)).secret);
    receiver.plan(path, answers);
    const worker = startWebhookWorker({ ...idle.ctx, lookupHost }, { schedule: [50], timeoutMs: TIMEOUT_MS });
    try {
      const [id] = await emitEvent(idle.ctx, idleQueues, {
        accountId: acct.id,
        type: 'job.succeeded',
        data: {},
        url: `http://hooks.test:${receiver.port}${path}`,
      });
      await settledRow(idle.ctx, id!);
      return idle.ctx.sql`select * from webhook_attempts where delivery_id = ${id!} order by attempt`;
    } finally {
      await worker.close();
    }
  }
  const loopback = [{ address: '127.0.0.1', family: 4 }];

  it('bounds a DNS lookup that never answers by the attempt’s timeout, then retries', async () => {
    let lookups = 0;
    const attempts = await deliverVia(async () =>
      ++lookups === 1 ? new Promise<never>(() => {}) : loopback,
    );
    expect(attempts.map((a) => a.status_code)).toEqual([null, 200]);
    expect(attempts[0]!.error).toBe(`looking up hooks.test timed out after ${TIMEOUT_MS} ms`);
    expect(attempts[0]!.duration_ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    // Bounded (a lookup that never answers would never end); loose, on a busy 2-core machine.
    expect(attempts[0]!.duration_ms).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it('counts a slow lookup in the attempt’s timeout', async () => {
    const slow = async () => {
      await pause(300);
      return loopback;
    };
    const attempts = await deliverVia(slow, ['hang']);
    expect(attempts[0]).toMatchObject({ status_code: null, error: `timed out after ${TIMEOUT_MS} ms` });
    // Under the lookup's 300 ms on top of the timeout: that it counts is what this shows.
    expect(attempts[0]!.duration_ms).toBeLessThan(TIMEOUT_MS + 250);
    expect(attempts[1]).toMatchObject({ status_code: 200 });
  });

  it('waits when its job comes before the attempt is due', async () => {
    const due = new Date(Date.now() + 1500);
    const { id, path } = await pendingDelivery(env.ctx, receiver, due);
    await queues.add('webhooks', { deliveryId: id }, { jobId: id });
    await pause(500);
    expect(receiver.at(path)).toHaveLength(0);
    expect(await settledRow(env.ctx, id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    const [attempt] = await env.ctx.sql`select at from webhook_attempts where delivery_id = ${id}`;
    expect(attempt!.at.getTime()).toBeGreaterThanOrEqual(due.getTime());
  });

  it('re-queues an attempt whose queue job failed', async () => {
    const { id, path } = await pendingDelivery(env.ctx, receiver, new Date(Date.now() - 600_000));
    // A job that can never run (its payload does not parse) fails, and keeps its id in the queue.
    const queue = queues.get('webhooks');
    await queue.add('webhooks', { deliveryId: 42 } as never, { jobId: id });
    await waitFor('the job to fail', async () => (await queue.getJob(id))?.isFailed());
    expect(await resumeStalledDeliveries(env.ctx, queues, { graceMs: 60_000 })).toBe(1);
    expect(await settledRow(env.ctx, id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(receiver.at(path)).toHaveLength(1);
  });
});
