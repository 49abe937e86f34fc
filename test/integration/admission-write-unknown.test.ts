import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdmitInput, admit, HoldWriteUnknown } from '../../shared/admission/admit.js';
import { systemClock } from '../../shared/clock.js';
import type { Context } from '../../shared/context.js';
import { createSql, type Sql } from '../../shared/db/client.js';
import { insertHold } from '../../shared/db/queries/holds.js';
import { settleServed } from '../../shared/inference/settle-request.js';
import { dayKey } from '../../shared/periods.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { schedulerEnv } from '../helpers/scheduler.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const w = schedulerEnv(systemClock);
let proxy: TcpProxy;
let throughProxy: Sql;

beforeAll(async () => {
  const url = new URL(w.env.databaseUrl);
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(proxy.port);
  throughProxy = createSql(url.toString(), { max: 1 });
});
afterAll(async () => {
  await throughProxy?.end({ timeout: 0 });
  await proxy?.close();
});

/**
 * The hold's insert commits, then Postgres drops out of reach of this process before the reply,
 * and stays out while admission asks whether the row is there: a failover, a network cut. The row
 * is in Postgres, open, so its reservation must stay in Redis; given back, the key could reserve
 * the same money twice and the account be charged past its balance.
 */
async function admitAcrossCut(f: KeyFixture, opts: Pick<AdmitInput, 'background'> = {}) {
  let holdId = '';
  const { admission } = await admitThroughProxy(f, {
    ...opts,
    write: async (h) => {
      holdId = h.id;
      await insertHold(w.env.ctx.sql, h);
      await proxy.cut();
      throw new Error('Connection terminated unexpectedly');
    },
  });
  return { admission, holdId: () => holdId };
}

/**
 * An 800 nGNK admission on Postgres through the proxy (up at first), its hold written by
 * `opts.write`; the admission not awaited (in an object: an async function would flatten it).
 */
async function admitThroughProxy(f: KeyFixture, opts: Pick<AdmitInput, 'background' | 'write'>) {
  const ctx: Context = { ...w.env.ctx, sql: throughProxy };
  await proxy.restore().catch(() => {}); // up, whatever the last test left
  // The pool answers with its last failure until its next connection attempt: wait for that.
  await waitFor('Postgres through the proxy', () =>
    throughProxy`select 1`.then(
      () => true,
      () => false,
    ),
  );
  const admission = admit(ctx, {
    key: f.key,
    estimate: 800n,
    model: 'm',
    pricePerToken: 1n,
    markupBps: 10_000,
    holdTtlMs: 600_000,
    ...opts,
  });
  return { admission };
}

async function redisReservation(f: KeyFixture) {
  const { redis, keys } = w.env.ctx;
  const [available, day] = await Promise.all([
    redis.get(keys.balance(f.accountId)),
    redis.get(keys.day(f.accountId, f.key.id, dayKey(w.env.ctx.clock.now()))),
  ]);
  return { available, day };
}

describe('admission: a hold write whose outcome Postgres cannot tell', () => {
  it('keeps the reservation, so the key cannot reserve the same money again', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 1_000n, limitDaily: 1_000n });
    const { admission, holdId } = await admitAcrossCut(f);
    await expect(admission).rejects.toBeInstanceOf(HoldWriteUnknown);
    await proxy.restore();

    const [row] = await w.env.ctx.sql`select status, amount from holds where id = ${holdId()}`;
    expect(row).toEqual({ status: 'open', amount: 800n });
    expect(await redisReservation(f)).toEqual({ available: '200', day: '800' });
    expect(await w.env.ctx.redis.exists(w.env.ctx.keys.hold(f.accountId, holdId()))).toBe(1);
    await expect(
      admit(w.env.ctx, {
        key: f.key,
        estimate: 900n,
        model: 'm',
        pricePerToken: 1n,
        markupBps: 10_000,
        holdTtlMs: 600_000,
      }),
    ).rejects.toMatchObject({ type: 'child_key_limit' });
  });

  it('keeps it for a sync request not served, rather than taking the admission back', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 1_000n });
    const { admission } = await admitAcrossCut(f, { background: true });
    const admitted = await admission;
    await expect(admitted.recorded).rejects.toBeInstanceOf(HoldWriteUnknown);
    await proxy.restore();
    await settleServed(w.env.ctx, w.queues, admitted, null); // the node failed: nothing served
    expect(await redisReservation(f)).toEqual({ available: '200', day: '800' });
  });

  it('asks again a moment later, and gives back the reservation of a hold that never landed', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 1_000n, limitDaily: 1_000n });
    const { admission } = await admitThroughProxy(f, {
      // The connection is cut before the insert reaches Postgres; it is back half a second later.
      write: async () => {
        await proxy.cut();
        setTimeout(() => void proxy.restore(), 500);
        throw Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
      },
    });
    await expect(admission).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(await redisReservation(f)).toEqual({ available: '1000', day: '0' });
  });
});
