import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { createQueues, type Queues } from '../../shared/queues.js';
import { startWorkers } from '../../workers/index.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, ledgerDrift } from '../helpers/fixtures.js';
import { capturedLogger } from '../helpers/logs.js';
import { waitFor } from '../helpers/wait.js';

let env: TestEnv;
let queues: Queues;
let stopWorkers: () => Promise<void>;

beforeAll(async () => {
  env = await createTestEnv();
  queues = createQueues(env.ctx);
  stopWorkers = startWorkers(env.ctx);
});
afterAll(async () => {
  await stopWorkers?.();
  await queues?.close();
  await env?.close();
});

const openHolds = async (accountId: string) =>
  Number(
    (
      await env.ctx.sql`select count(*) as n from holds where account_id = ${accountId} and status = 'open'`
    )[0]?.n,
  );

/** n holds of 1,000 nGNK on one key, at 1 nGNK a token (so 10 tokens cost 10). */
const admitHolds = (key: Parameters<typeof admit>[1]['key'], n: number) =>
  Promise.all(
    Array.from({ length: n }, () =>
      admit(env.ctx, {
        key,
        estimate: 1_000n,
        model: 'm',
        pricePerToken: 1n,
        markupBps: 10000,
        holdTtlMs: 60_000,
      }),
    ),
  );

/** A settlement item whose hold must be written for an account that does not exist: it fails any transaction. */
const unwritable = (id: string) => ({
  holdId: id,
  outcome: 'post',
  promptTokens: 1,
  completionTokens: 1,
  unrecorded: {
    id,
    requestId: `req_${id}`,
    accountId: 'acct_nope',
    childKeyId: 'ck_nope',
    amount: '100',
    periodDay: '2026-12-04',
    model: 'm1',
    pricePerToken: '10',
    markupBps: 12000,
    createdAt: '2026-12-04T10:00:00.000Z',
    deadline: '2026-12-04T11:00:00.000Z',
  },
});

describe('settlement worker', () => {
  it('settles a burst of grouped and single jobs in batches, each hold exactly once', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000_000n });
    const holds = await admitHolds(f.key, 300);
    const item = (id: string) => ({
      holdId: id,
      outcome: 'post' as const,
      promptTokens: 5,
      completionTokens: 5,
    });
    // Every hold enqueued twice, in a group (as settleRequest hands them off) and alone (as earlier
    // versions did): delivery is at-least-once, booking is once.
    const ids = holds.map((a) => a.hold.id);
    await Promise.all([
      ...Array.from({ length: 6 }, (_, g) =>
        queues.add('settlement', {
          items: ids.slice(g * 50, g * 50 + 50).map(item),
          enqueuedAt: Date.now(),
        }),
      ),
      ...ids.map((id) => queues.add('settlement', { ...item(id), enqueuedAt: Date.now() })),
    ]);
    await waitFor('all holds settled', async () => (await openHolds(f.accountId)) === 0);
    await waitFor(
      'queue drained',
      async () => (await queues.get('settlement').getJobCountByTypes('active', 'wait')) === 0,
    );
    expect((await getAccountBalance(env.ctx.sql, f.accountId))?.balance).toBe(10_000_000n - 300n * 10n);
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe(String(10_000_000 - 3_000));
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('fails a malformed payload without retrying it', async () => {
    const q = queues.get('settlement');
    const job = await q.add('settlement', { holdId: 'x' } as never);
    await waitFor('job failed', async () => (await job.isFailed()) || null);
    const failed = await q.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/invalid settlement payload/);
  });

  it('logs an attempt it will retry as a warning and only the last failure as an error', async () => {
    await stopWorkers(); // this test's workers alone take the job: every attempt is logged here
    const { logger, lines } = capturedLogger('warn');
    const stop = startWorkers({ ...env.ctx, logger });
    try {
      const item = unwritable('hold_nope');
      const job = await queues
        .get('settlement')
        .add('settlement', { items: [item], enqueuedAt: Date.now() } as never, {
          attempts: 2,
          backoff: { type: 'fixed', delay: 10 },
        });
      await waitFor('job failed for good', async () => (await job.isFailed()) || null);
      const about = lines.filter((l) => l.jobId === job.id);
      expect(about.map((l) => [l.level, l.msg])).toEqual([
        [40, 'settlement attempt failed; retrying'],
        [50, 'settlement failed'],
      ]);
    } finally {
      await stop();
    }
  });

  it('settles the good holds of a group one by one when one of them fails the batch', async () => {
    await stopWorkers();
    const { logger, lines } = capturedLogger('warn');
    const stop = startWorkers({ ...env.ctx, logger });
    try {
      const f = await createKeyFixture(env.ctx, { balance: 1_000_000n });
      const holds = await admitHolds(f.key, 20);
      const good = holds.map((a) => ({
        holdId: a.hold.id,
        outcome: 'post',
        promptTokens: 5,
        completionTokens: 5,
      }));
      const job = await queues.get('settlement').add(
        'settlement',
        {
          items: [...good.slice(0, 10), unwritable('hold_bad'), ...good.slice(10)],
          enqueuedAt: Date.now(),
        } as never,
        {
          attempts: 1,
        },
      );
      await waitFor('job failed', async () => (await job.isFailed()) || null);
      expect(await openHolds(f.accountId)).toBe(0);
      expect((await getAccountBalance(env.ctx.sql, f.accountId))?.balance).toBe(1_000_000n - 20n * 10n);
      expect(lines.some((l) => l.msg === 'settlement batch failed; settling one by one')).toBe(true);
      expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
    } finally {
      await stop();
    }
  });
});
