import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleHolds } from '../../shared/ledger/settle.js';
import { dayKey } from '../../shared/periods.js';
import type { Queues } from '../../shared/queues.js';
import { restoreHoldRecords } from '../../shared/reconcile/admission-check.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import type { Finding } from '../../shared/reconcile/types.js';
import { type CliRun, runCli } from '../helpers/cli.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { admissionSnapshot, admitJob, flushPrefix, hold, outcome, testQueues } from '../helpers/scheduler.js';

let env: TestEnv;
let queues: Queues;

beforeAll(async () => {
  env = await createTestEnv({ env: { RECONCILE_INFLIGHT_MS: '20' } });
  queues = testQueues(env.ctx);
});
afterAll(async () => {
  await queues?.close();
  await env?.close();
});

/** `npm run reconcile -- …` without npm, against this file's database and Redis prefix. */
async function reconcileCli(...args: string[]): Promise<CliRun> {
  return reconcileCliWith({}, ...args);
}

async function reconcileCliWith(envOver: Record<string, string>, ...args: string[]): Promise<CliRun> {
  return runCli(
    'reconcile.ts',
    args,
    {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: env.config.REDIS_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      RECONCILE_INFLIGHT_MS: '20',
      LOG_LEVEL: 'warn',
      ...envOver,
    },
    30_000,
  );
}

/** Would this request be admitted? Asked for real, and an admitted probe is voided at once. */
async function probe(f: KeyFixture, amount: bigint): Promise<string> {
  try {
    const id = await hold(env.ctx, f.key, amount);
    await settleHolds(env.ctx, [{ holdId: id, outcome: 'void' }]);
    return 'ok';
  } catch (err) {
    return outcome(Promise.reject(err));
  }
}

const settle = (holdId: string, cost: number) =>
  settleHolds(env.ctx, [{ holdId, outcome: 'post', promptTokens: cost, completionTokens: 0 }]);

/** An async job with its hold, queued the way POST /v1/jobs does it. */
async function queuedJob(f: KeyFixture, estimate: bigint): Promise<string> {
  const { jobId } = await admitJob(env.ctx, f, estimate, { ttlMs: 3600_000 });
  await queues.add('inference', { jobId }, { jobId });
  return jobId;
}

describe('reconcile', () => {
  it('says which Redis it could not reach (exit 2), not a stack', async () => {
    const r = await reconcileCliWith({ REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent' });
    expect([r.code, r.stderr]).toEqual([
      2,
      expect.stringMatching(/^reconcile: Redis at 127\.0\.0\.1:1 does not answer /m),
    ]);
    expect(r.stderr, r.stderr).not.toMatch(/^\s+at /m);
  });

  it.each([
    ['a port nothing listens on', 'postgres://postgres@127.0.0.1:1/x', '127\\.0\\.0\\.1:1'],
    ['a host that does not resolve', 'postgres://postgres@nohost.invalid:5432/x', 'nohost\\.invalid:5432'],
  ])('says which Postgres it could not reach (%s), not Redis, which answers', async (_, url, where) => {
    const r = await reconcileCliWith({ DATABASE_URL: url, LOG_LEVEL: 'silent' });
    expect([r.code, r.stderr]).toEqual([
      2,
      expect.stringMatching(
        new RegExp(`^reconcile: Postgres at ${where} does not answer .*DATABASE_URL`, 'm'),
      ),
    ]);
  });

  it('reports no drift on a consistent system and exits 0', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 5000n });
    await settle(await hold(env.ctx, f.key, 500n), 300);
    await hold(env.ctx, f.key, 200n);
    const report = await runReconcile(env.ctx, { queues });
    expect(report.drift).toEqual([]);
    expect(report.ok).toBe(true);
    const cli = await reconcileCli();
    expect(cli.stdout).toMatch(/no drift/);
    const db = new URL(env.config.DATABASE_URL).pathname.slice(1);
    expect(cli.stdout).toContain(
      `Postgres database "${db}" against Redis prefix "${env.config.REDIS_PREFIX}"`,
    );
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
  });

  it('tells how many accounts it has checked on stderr as it goes, stdout staying the report', async () => {
    await createKeyFixture(env.ctx, { balance: 10_000n });
    // Every group of accounts at 0 s; by default every 5 s, so a quick run (above) says nothing.
    const cli = await reconcileCli('--json', '--progress-seconds', '0');
    const report = JSON.parse(cli.stdout);
    const accounts = report.scanned.accounts;
    expect(accounts).toBeGreaterThan(0);
    expect(cli.stderr).toContain(`reconcile: ${accounts} of ${accounts} accounts checked`);
    expect(cli.code).toBe(0);
  });

  it('names a corrupted Redis counter, exits 1, and --fix puts it right', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 5000n });
    await settle(await hold(env.ctx, f.key, 500n), 300);
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    const counter = env.ctx.keys.day(f.accountId, f.key.id, day);
    expect(await env.ctx.redis.get(counter)).toBe('300');
    await env.ctx.redis.incrby(counter, 500);

    const cli = await reconcileCli();
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('DRIFT redis_counters (1)');
    expect(cli.stdout).toContain(`[redis_counters] ${counter}`);
    expect(cli.stdout).toMatch(/expected 300, actual 800/);

    const fixed = await reconcileCli('--fix');
    expect(fixed.stdout).toMatch(/fixed 1 drift item/);
    expect(fixed.code).toBe(0);
    expect(await env.ctx.redis.get(counter)).toBe('300');
  });

  it('after Redis loses everything mid-run, --fix restores limits, balances and holds exactly', async () => {
    const a = await createKeyFixture(env.ctx, { balance: 100_000n, limitDaily: 3000n, limitMonthly: 8000n });
    const a2 = await createKeyFixture(env.ctx, { accountId: a.accountId });
    const b = await createKeyFixture(env.ctx, { balance: 5_000n, limitMonthly: 4500n });
    await settle(await hold(env.ctx, a.key, 1000n), 700);
    await settleHolds(env.ctx, [{ holdId: await hold(env.ctx, a.key, 400n), outcome: 'void' }]);
    const openA = await hold(env.ctx, a.key, 900n);
    const openA2 = await hold(env.ctx, a2.key, 50_000n);
    await settle(await hold(env.ctx, b.key, 2000n), 1500);
    const job = await queuedJob(b, 1000n);

    // Exactly at and just past each key's remaining limit and the accounts' available balances.
    const probes = async () => [
      await probe(a, 1400n), // daily 3000 − 700 − 900 held
      await probe(a, 1401n),
      await probe(a2, 48_400n), // no limits: available 100000 − 700 charged − 900 − 50000 held
      await probe(a2, 48_401n),
      await probe(b, 2000n), // monthly 4500 − 1500 − 1000 held by the job
      await probe(b, 2001n),
    ];
    const outcomesBefore = await probes();
    expect(outcomesBefore).toEqual([
      'ok',
      'child_key_limit',
      'ok',
      'insufficient_balance',
      'ok',
      'child_key_limit',
    ]);
    const before = await admissionSnapshot(env.ctx);
    expect(Object.keys(before).length).toBeGreaterThan(10);
    expect((await runReconcile(env.ctx, { queues })).ok).toBe(true);

    await flushPrefix(env.ctx); // Redis restarted without persistence
    const broken = await reconcileCli();
    expect(broken.code).toBe(1);
    // Every open hold lost its record (with the whole file's tests, the first test's one too).
    expect(broken.stdout).toMatch(/DRIFT redis_hold_records \([34]\)/);
    for (const h of [openA, openA2])
      expect(broken.stdout).toContain(`:h:${h}: open hold has no Redis record`);
    expect(broken.stdout).toContain('DRIFT inference_queue (1)');

    const fix = await reconcileCli('--fix');
    expect(fix.stdout).toMatch(/after --fix:\nreconcile .*: no drift/);
    expect(fix.code).toBe(0);
    expect(await admissionSnapshot(env.ctx)).toEqual(before);
    expect(await probes()).toEqual(outcomesBefore);
    const requeued = await queues.get('inference').getJobs(['wait', 'prioritized']);
    expect(requeued.map((m) => m.data)).toEqual([{ jobIds: [job] }]);

    // Releases after the rebuild give back exactly what was reserved.
    await settle(openA, 600);
    await settleHolds(env.ctx, [{ holdId: openA2, outcome: 'void' }]);
    expect((await runReconcile(env.ctx, { queues })).drift).toEqual([]);

    // New requests meet exactly the limits and balances left: a daily 3000 with 1300 spent…
    expect(await outcome(hold(env.ctx, a.key, 1701n))).toBe('child_key_limit');
    expect(await outcome(hold(env.ctx, a.key, 1700n))).toBe('ok');
    // …the account's balance: 100000 − 700 − 600 charged − 1700 held…
    expect(await outcome(hold(env.ctx, a2.key, 97_001n))).toBe('insufficient_balance');
    expect(await outcome(hold(env.ctx, a2.key, 97_000n))).toBe('ok');
    // …and b's month: 4500 − 1500 spent − 1000 held by the queued job.
    expect(await outcome(hold(env.ctx, b.key, 2001n))).toBe('child_key_limit');
    expect(await outcome(hold(env.ctx, b.key, 2000n))).toBe('ok');
    expect(await outcome(hold(env.ctx, b.key, 1n))).toBe('child_key_limit');
  });

  it('for an account too busy to watch, puts lost hold records back and releases one that settled meanwhile', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 5000n });
    const id = await hold(env.ctx, f.key, 500n);
    const k = env.ctx.keys;
    const day = k.day(f.accountId, f.key.id, dayKey(new Date()));
    const record = k.hold(f.accountId, id);
    // Redis lost the hold's record; reconciliation read Redis, then Postgres while the hold was open ...
    await env.ctx.redis.del(record);
    const seen = {
      epoch: (await env.ctx.redis.get(k.loadEpoch(f.accountId))) ?? '',
      generation: (await env.ctx.redis.hget(k.childKey(f.accountId, f.key.id), 'cg')) ?? '',
    };
    const lost: Finding = {
      kind: 'drift',
      check: 'redis_hold_records',
      subject: record,
      message: 'open hold without its record',
      repairs: [
        {
          kind: 'putHold',
          key: record,
          index: k.heldRecords(f.accountId),
          accountId: f.accountId,
          holdId: id,
          amount: '500',
          keyId: f.key.id,
          admittedMs: Date.now(),
          deadlineMs: Date.now() + 600_000,
          ttlS: 3600,
          seen,
        },
      ],
    };
    // ... and it settled before the record was back: its release had nothing to release through.
    await settle(id, 300);
    expect(await env.ctx.redis.get(day)).toBe('500');
    expect(await restoreHoldRecords(env.ctx, [lost])).toBe(1);
    expect(await env.ctx.redis.get(day)).toBe('300');
    expect(await env.ctx.redis.get(k.balance(f.accountId))).toBe('9700');
    expect(await env.ctx.redis.exists(record)).toBe(0);
  });

  it('stops a deleted key whose publish Redis missed, at the scheduled check, however busy its account', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n });
    await hold(env.ctx, f.key, 10n); // the key's state is loaded
    // Deleted in Postgres; the publish to Redis never came, so the key is still admitted.
    await env.ctx.sql`
      update child_keys set status = 'deleted', deleted_at = now(), version = version + 1 where id = ${f.key.id}`;
    let stop = false;
    let admitted = 0;
    const traffic = (async () => {
      while (!stop) {
        try {
          const id = await hold(env.ctx, f.key, 1n);
          admitted++;
          await settleHolds(env.ctx, [{ holdId: id, outcome: 'void' }]);
        } catch {
          // refused once the check has put the deleted state in Redis
        }
        await sleep(5);
      }
    })();
    try {
      // As the scheduler runs it (reconcile-check.ts); every watched look meets an admission.
      await runReconcile(env.ctx, { queues, restoreHoldRecords: true, inflightMs: 100 });
    } finally {
      stop = true;
      await traffic;
    }
    expect(admitted).toBeGreaterThan(0);
    expect(await env.ctx.redis.hget(env.ctx.keys.childKey(f.accountId, f.key.id), 'st')).toBe('deleted');
    await expect(hold(env.ctx, f.key, 1n)).rejects.toThrow(/revoked/);
  });

  it('--fix under live traffic never loses or double-counts a concurrent request', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n, limitDaily: 1_000_000n });
    await hold(env.ctx, f.key, 10n);
    const bal = env.ctx.keys.balance(f.accountId);
    await env.ctx.redis.incrby(bal, 777); // drift to repair
    let stop = false;
    let n = 0;
    const traffic = (async () => {
      while (!stop) {
        for (let burst = 0; burst < 3 && !stop; burst++) {
          const id = await hold(env.ctx, f.key, 100n);
          if (n++ % 2) await settle(id, 60);
          else await settleHolds(env.ctx, [{ holdId: id, outcome: 'void' }]);
        }
        // Gaps longer than a repair's two waits, so some repairs find a quiet moment.
        await sleep(40 + Math.random() * 80);
      }
      return n;
    })();
    // The two halves of one request (Redis step, Postgres write) come within INFLIGHT_MS of each
    // other here even on a loaded machine: the premise of a repair under live traffic (watched.ts).
    const INFLIGHT_MS = 15;
    // At least 8 repairs, and as many more as it takes for the traffic to have run a dozen requests
    // among them (a slow machine may fit few between quick repairs).
    for (let i = 0; i < 100 && (i < 8 || n < 12); i++)
      await runReconcile(env.ctx, { queues, fix: true, inflightMs: INFLIGHT_MS });
    stop = true;
    expect(await traffic).toBeGreaterThan(5);
    // Whatever the repairs met, the only difference left can be the one planted: nothing was lost
    // or counted twice on the way.
    const after = await runReconcile(env.ctx, { queues });
    for (const d of after.drift) {
      expect(d).toMatchObject({ check: 'redis_balance', subject: bal });
      expect(BigInt(d.actual!) - BigInt(d.expected!)).toBe(777n);
    }
    await runReconcile(env.ctx, { queues, fix: true });
    expect((await runReconcile(env.ctx, { queues })).drift).toEqual([]);
  });
});
