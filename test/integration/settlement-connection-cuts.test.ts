import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from '../../shared/context.js';
import { createSql, type Sql } from '../../shared/db/client.js';
import { isPostgresConnectionLoss } from '../../shared/db/connection-loss.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { createQueues, type Queues } from '../../shared/queues.js';
import { startWorkers } from '../../workers/index.js';
import { holdFor } from '../helpers/admit.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, ledgerDrift } from '../helpers/fixtures.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The workers' Postgres connections ended under their transactions, again and again (a failover,
 * a network cut, pg_terminate_backend). postgres.js 3 could throw from its socket code here (an
 * uncaught TypeError: the process ends) or leave a transaction waiting forever; the client must
 * reject the cut transaction, reconnect, and settlement then books every hold once.
 */
let env: TestEnv;
let proxy: TcpProxy;
let throughProxy: Sql;
let queues: Queues;
let stopWorkers: (() => Promise<void>) | undefined;

beforeAll(async () => {
  env = await createTestEnv();
  const url = new URL(env.databaseUrl);
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(proxy.port);
  throughProxy = createSql(url.toString(), { max: 4 });
  queues = createQueues(env.ctx);
});
afterAll(async () => {
  await stopWorkers?.();
  await queues?.close();
  await throughProxy?.end({ timeout: 0 });
  await proxy?.close();
  await env?.close();
});

describe('Postgres connections cut under transactions', () => {
  it('rejects a transaction whose connection is cut, and the next query runs on a new one', async () => {
    const tx = throughProxy.begin(async (sql) => {
      await sql`select 1`;
      await proxy.cut();
      await proxy.restore();
      await sql`select 2`;
    });
    const err = await tx.then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPostgresConnectionLoss(err)).toBe(true);
    await waitFor('a new connection', async () => {
      const rows = await throughProxy`select 1 as one`.catch(() => null);
      return rows?.[0]?.one === 1 || null;
    });
  });

  it('fails a query on a connection gone silent after the query timeout, as a lost connection, then recovers', async () => {
    const url = new URL(env.databaseUrl);
    url.port = String(proxy.port);
    const timed = createSql(url.toString(), { max: 1, queryTimeoutMs: 500 });
    try {
      await timed`select 1`;
      // Bytes stop both ways, the sockets stay open: no error would ever come by itself (TCP's
      // keepalive takes minutes); the limit, then the unanswered cancel's 5 s, end the query.
      proxy.freeze();
      const err = await timed`select 2`.then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code).toBe('QUERY_TIMEOUT');
      expect(isPostgresConnectionLoss(err)).toBe(true); // so a request gets a 503 with Retry-After
      proxy.thaw();
      await waitFor('the pool answers again', () =>
        timed`select 3`.then(
          () => true,
          () => false,
        ),
      );
    } finally {
      proxy.thaw();
      await timed.end({ timeout: 0 });
    }
  });

  it('settles every hold once while the workers’ connections are cut again and again', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000_000n });
    const holds = await Promise.all(
      Array.from({ length: 200 }, () => holdFor(env.ctx, f.key, 1_000n, { holdTtlMs: 600_000 })),
    );
    const ctx: Context = { ...env.ctx, sql: throughProxy };
    stopWorkers = startWorkers(ctx);
    let cuts = 0;
    const cutter = setInterval(() => {
      cuts++;
      void proxy.cut().then(() => proxy.restore());
    }, 40);
    try {
      for (const [i, a] of holds.entries()) {
        await queues.add('settlement', {
          holdId: a.hold.id,
          outcome: 'post',
          promptTokens: 5,
          completionTokens: 5,
          enqueuedAt: Date.now(),
        });
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 25)); // spread over the cuts
      }
    } finally {
      clearInterval(cutter);
      await proxy.restore().catch(() => {});
    }
    expect(cuts).toBeGreaterThan(5);
    await waitFor(
      'every hold settled',
      async () =>
        Number(
          (
            await env.ctx
              .sql`select count(*) as n from holds where account_id = ${f.accountId} and status = 'open'`
          )[0]?.n,
        ) === 0,
      60_000,
    );
    // 10 tokens at 12 nGNK each (holdFor's price and markup), once per hold.
    expect((await getAccountBalance(env.ctx.sql, f.accountId))?.balance).toBe(10_000_000n - 200n * 120n);
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });
});
