import net from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { claimSubmission } from '../../shared/idempotency.js';
import { jobSubmission } from '../../shared/jobs/submit.js';
import { signSession } from '../../shared/jwt.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { topup } from '../../shared/ledger/topup.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { openWatchConnection } from '../../shared/redis/client.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

/**
 * Scripts that ioredis may run twice: it resends a command whose reply a dropped connection lost.
 * A TCP proxy in front of Redis that, when armed, lets Redis execute the next command but drops its
 * reply and resets the client's connection (a network blip, an LB idle reset, a failover).
 */
let armed = false;
/** While set, Redis is out of reach: every connection is cut and new ones are refused. */
let down = false;
/**
 * When set, the next write that carries an EXEC waits for it to run, then goes on to Redis, and the
 * reply is lost as when armed (a MULTI whose reply a dropped connection lost).
 */
let beforeExec: (() => Promise<void>) | null = null;
const sockets = new Set<net.Socket>();
const target = new URL(inject('redisUrl'));
const proxy = net.createServer((client) => {
  if (down) {
    client.destroy();
    return;
  }
  sockets.add(client);
  const upstream = net.connect(Number(target.port || 6379), target.hostname);
  let dropReply = false;
  client.on('data', (d) => {
    const hook = beforeExec;
    if (!hook || !/\r\nexec\r\n/i.test(d.toString('latin1'))) return void upstream.write(d);
    beforeExec = null;
    client.pause();
    void hook().then(() => {
      dropReply = true;
      upstream.write(d);
      client.resume();
    });
  });
  upstream.on('data', (d) => {
    if (armed || dropReply) {
      armed = false;
      client.destroy();
      upstream.destroy();
      return;
    }
    client.write(d);
  });
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});

let env: TestEnv;
beforeAll(async () => {
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as net.AddressInfo).port;
  env = await createTestEnv({ env: { REDIS_URL: `redis://127.0.0.1:${port}${target.pathname}` } });
});
afterAll(async () => {
  await env?.close();
  for (const s of sockets) s.destroy();
  proxy.close();
});

/** What admit() takes for a request of `estimate` nGNK on the fixture's key. */
const admission = (f: KeyFixture, estimate: bigint) => ({
  key: f.key,
  estimate,
  model: 'm1',
  pricePerToken: 10n,
  markupBps: 12000,
  holdTtlMs: 60_000,
});

it('an admission whose reply a dropped connection lost is resent by ioredis and reserves once', async () => {
  const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 5 });
  const input = admission(f, 1_000n);
  const first = await admit(env.ctx, input); // loads the key's state
  await settleHolds(env.ctx, [{ holdId: first.hold.id, outcome: 'void' }]);
  expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('10000');

  armed = true; // the admit script runs, its reply is lost, ioredis reconnects and resends it
  const a = await admit(env.ctx, input);
  // The resent reply still carries the key's RPM state: two requests of five in the window.
  expect(a.rateLimit).toMatchObject({ limit: 5, remaining: 3 });
  expect(a.rateLimit!.resetMs).toBeGreaterThan(0);
  expect(a.rateLimit!.resetMs).toBeLessThanOrEqual(60_000);
  await settleHolds(env.ctx, [{ holdId: a.hold.id, outcome: 'void' }]);

  const pg = (await getAccountBalance(env.ctx.sql, f.accountId))!;
  expect(pg.balance - pg.held).toBe(10_000n);
  expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('10000');
});

it('a top-up credit whose reply was lost is resent and credits once', async () => {
  const f = await loadedKey({ balance: 1_000n });
  armed = true; // the credit script runs, its reply is lost, ioredis resends it
  await topup(env.ctx, { accountId: f.accountId, amount: 5_000n, reference: `resend-${f.accountId}` });
  expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('6000');
});

it('an Idempotency-Key claim whose reply was lost is resent and still claims', async () => {
  const f = await createKeyFixture(env.ctx, { balance: 1_000n });
  await claimSubmission(env.ctx, f.key, jobSubmission, 'warm-up'); // the script is loaded: the next call is one EVALSHA
  armed = true; // claim-1.lua runs, its reply is lost, ioredis resends it
  const c = await claimSubmission(env.ctx, f.key, jobSubmission, 'order-1');
  expect('id' in c).toBe(true);
});

/** Run `fn` with Redis out of reach (a command sent meanwhile fails, never runs), then bring it back. */
async function whileRedisDown<T>(fn: () => Promise<T>): Promise<T> {
  down = true;
  for (const s of sockets) s.destroy();
  try {
    return await fn();
  } finally {
    down = false;
  }
}

/** A key whose account's admission state (balance included) is loaded in Redis. */
async function loadedKey(opts: { balance: bigint; referredBy?: string }) {
  const f = await createKeyFixture(env.ctx, opts);
  await useKey(f);
  return f;
}

/** One admission of the key, voided: its first loads the account's state from Postgres. */
async function useKey(f: KeyFixture) {
  const { hold } = await admit(env.ctx, admission(f, 100n));
  await settleHolds(env.ctx, [{ holdId: hold.id, outcome: 'void' }]);
}

/** A top-up of 5,000 nGNK that commits while Redis is out of reach (it fails); returns its replay. */
async function lostTopup(f: KeyFixture, reference: string) {
  const topupOf = () => topup(env.ctx, { accountId: f.accountId, amount: 5_000n, reference });
  await expect(whileRedisDown(topupOf)).rejects.toThrow();
  return topupOf;
}

/** The account's available balance in Redis and in Postgres. */
async function available(accountId: string) {
  const pg = (await getAccountBalance(env.ctx.sql, accountId))!;
  return { redis: await env.ctx.redis.get(env.ctx.keys.balance(accountId)), postgres: pg.balance - pg.held };
}

it('a top-up whose credit never reached Redis reaches it when its reference is replayed', async () => {
  const f = await loadedKey({ balance: 1_000n });
  // Committed in Postgres, then Redis was out of reach: the caller gets an error and retries.
  const topupOf = await lostTopup(f, `lost-${f.accountId}`);
  expect(await available(f.accountId)).toEqual({ redis: '1000', postgres: 6_000n });

  expect((await topupOf()).created).toBe(false);
  // Redis cannot tell a send that never landed from a marker it lost: the balance is loaded again
  // from Postgres, at the next request, rather than added to (credit-balance-3.lua).
  expect(await available(f.accountId)).toEqual({ redis: null, postgres: 6_000n });
  await useKey(f);
  expect(await available(f.accountId)).toEqual({ redis: '6000', postgres: 6_000n });
  await topupOf(); // a replay of a credit that landed changes nothing
  expect(await available(f.accountId)).toEqual({ redis: '6000', postgres: 6_000n });
});

/**
 * A referred account's settlement whose ledger commits while Redis is out of reach (its release
 * and its referral credit fail: the queue will retry the job). `referrerLoaded`: whether Redis
 * had loaded the referrer's balance. Returns the retry and the referrer's balance then.
 */
async function lostReferral(referrerLoaded: boolean) {
  const referrer = referrerLoaded
    ? await loadedKey({ balance: 1_000n })
    : await createKeyFixture(env.ctx, { balance: 1_000n });
  const spender = await loadedKey({ balance: 100_000n, referredBy: referrer.accountId });
  const { hold } = await admit(env.ctx, admission(spender, 10_000n));
  const settle = () =>
    settleHolds(env.ctx, [{ holdId: hold.id, outcome: 'post', promptTokens: 100, completionTokens: 200 }]);
  await expect(whileRedisDown(settle)).rejects.toThrow();
  const paid = await available(referrer.accountId);
  expect(paid.postgres).toBeGreaterThan(1_000n); // the referral is booked
  return { referrer, spender, settle, paid };
}

it('a settlement retried after its commit sends the referral credits Redis missed', async () => {
  const { referrer, spender, settle, paid } = await lostReferral(true);
  expect(paid.redis).toBe('1000'); // Redis has not seen the referral

  expect(await settle()).toMatchObject([{ status: 'already' }]);
  await useKey(referrer); // the resend had the balance loaded again (credit-balance-3.lua)
  const after = await available(referrer.accountId);
  expect(after).toEqual({ redis: paid.postgres.toString(), postgres: paid.postgres });
  await settle(); // once only
  expect(await available(referrer.accountId)).toEqual(after);
  const spent = await available(spender.accountId);
  expect(spent.redis).toBe(spent.postgres.toString());
});

it('a referral a load of the balance counted is not added again by the settlement retry', async () => {
  const { referrer, settle, paid } = await lostReferral(false);
  await useKey(referrer); // the referrer's first request loads its balance: the referral is in it
  expect(await available(referrer.accountId)).toEqual({
    redis: paid.postgres.toString(),
    postgres: paid.postgres,
  });

  await settle(); // sends the referral again: the load marked it as counted
  expect(await available(referrer.accountId)).toEqual({
    redis: paid.postgres.toString(),
    postgres: paid.postgres,
  });
});

it('a top-up a load of the balance counted before its send came is not added again by a replay', async () => {
  const f = await createKeyFixture(env.ctx, { balance: 1_000n }); // Redis has not loaded this account
  // Committed in Postgres, then Redis was out of reach: the caller gets an error and retries.
  const topupOf = await lostTopup(f, `late-${f.accountId}`);
  await useKey(f); // its first request loads the balance from Postgres: the top-up is in it
  expect(await available(f.accountId)).toEqual({ redis: '6000', postgres: 6_000n });

  await topupOf(); // the replay sends the credit again: the load marked it as counted
  expect(await available(f.accountId)).toEqual({ redis: '6000', postgres: 6_000n });
});

it('a top-up the balance repair of reconcile --fix counted is not added again by a replay', async () => {
  const f = await loadedKey({ balance: 1_000n });
  // Committed in Postgres, then Redis was out of reach: the caller gets an error and retries.
  const topupOf = await lostTopup(f, `fixed-${f.accountId}`);
  expect(await available(f.accountId)).toEqual({ redis: '1000', postgres: 6_000n });
  await runReconcile(env.ctx, { fix: true });
  expect(await available(f.accountId)).toEqual({ redis: '6000', postgres: 6_000n });

  await topupOf();
  expect(await available(f.accountId)).toEqual({ redis: '6000', postgres: 6_000n });
});

it('a reconcile repair whose reply a dropped connection lost is not applied again without its WATCH', async () => {
  const f = await loadedKey({ balance: 10_000n });
  await env.ctx.redis.set(env.ctx.keys.balance(f.accountId), '9999'); // drift: Postgres says 10000
  let ran = false;
  beforeExec = async () => {
    // An admission between the check's reads and its EXEC: the WATCH refuses the repair, and the
    // refusal's reply is lost. Sent again on a new connection, the repair would undo the admission.
    await admit(env.ctx, admission(f, 1_000n));
    ran = true;
  };
  await runReconcile(env.ctx, { fix: true });
  expect(ran).toBe(true);
  expect(await available(f.accountId)).toEqual({ redis: '9000', postgres: 9_000n });
});

it('a reconcile whose connection drops while Redis restarts looks again once it is back', async () => {
  const f = await loadedKey({ balance: 10_000n });
  await env.ctx.redis.set(env.ctx.keys.balance(f.accountId), '9999'); // drift: Postgres says 10000
  let wentDown = false;
  beforeExec = async () => {
    // Redis goes away as the repair is sent, and stays away for a moment: the repair is lost, and
    // the first connections the check opens again are refused.
    down = true;
    for (const s of sockets) s.destroy();
    wentDown = true;
    setTimeout(() => {
      down = false;
    }, 250);
  };
  await runReconcile(env.ctx, { fix: true });
  expect(wentDown).toBe(true);
  expect(await available(f.accountId)).toEqual({ redis: '10000', postgres: 10_000n });
});

describe('a key change whose publish to Redis failed after its commit', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(env.ctx);
  });
  afterAll(async () => {
    await server?.close();
  });
  const owner = (f: KeyFixture) => signSession(env.config.JWT_SECRET, f.accountId, 300);
  /** Whether admission still lets the key in (the hold it makes is given back). */
  const admitted = async (f: KeyFixture) => {
    try {
      const { hold } = await admit(env.ctx, admission(f, 100n));
      await settleHolds(env.ctx, [{ holdId: hold.id, outcome: 'void' }]);
      return true;
    } catch {
      return false;
    }
  };

  it('a deleted child key stops when the DELETE is retried', async () => {
    const f = await loadedKey({ balance: 10_000n });
    const token = await owner(f);
    const del = () =>
      call(server.url, 'DELETE', `/api/management/keys/${f.mkId}/children/${f.key.id}`, { token });
    expect((await whileRedisDown(del)).status).toBe(503); // committed in Postgres, not in Redis
    expect(await admitted(f)).toBe(true);
    const again = await del();
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('deleted');
    expect(await admitted(f)).toBe(false);
  });

  it("a revoked management key's children stop at the scheduled check", async () => {
    const f = await loadedKey({ balance: 10_000n });
    const token = await owner(f);
    const revoke = () => call(server.url, 'DELETE', `/api/management/keys/${f.mkId}`, { token });
    expect((await whileRedisDown(revoke)).status).toBe(503);
    expect(await admitted(f)).toBe(true);
    // What the scheduler runs every 10 minutes (reconcile-check.ts).
    await runReconcile(env.ctx, { restoreHoldRecords: true });
    expect(await admitted(f)).toBe(false);
  });
});

it('a reconcile connection that dropped sends nothing more, on it or on a new connection', async () => {
  const conn = await openWatchConnection(env.ctx.redis, () => {});
  const key = `${env.ctx.keys.balance('watch-probe')}`;
  await conn.watch(key);
  await whileRedisDown(async () => {
    await expect(conn.get(key)).rejects.toThrow();
  });
  // Redis is back: a step that lost its connection and goes on (its MULTI) must not reach it
  // unwatched through a reconnection.
  await expect(conn.multi().set(key, 'applied').exec()).rejects.toThrow();
  await new Promise((r) => setTimeout(r, 200));
  expect(await env.ctx.redis.get(key)).toBeNull();
  expect(conn.status).toBe('end');
});
