import net from 'node:net';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { claimSubmission } from '../../shared/jobs/idempotency.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { topup } from '../../shared/ledger/topup.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture } from '../helpers/fixtures.js';

/**
 * Scripts that ioredis may run twice: it resends a command whose reply a dropped connection lost.
 * A TCP proxy in front of Redis that, when armed, lets Redis execute the next command but drops its
 * reply and resets the client's connection (a network blip, an LB idle reset, a failover).
 */
let armed = false;
const sockets = new Set<net.Socket>();
const target = new URL(inject('redisUrl'));
const proxy = net.createServer((client) => {
  sockets.add(client);
  const upstream = net.connect(Number(target.port || 6379), target.hostname);
  client.on('data', (d) => upstream.write(d));
  upstream.on('data', (d) => {
    if (armed) {
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

it('an admission whose reply a dropped connection lost is resent by ioredis and reserves once', async () => {
  const f = await createKeyFixture(env.ctx, { balance: 10_000n });
  const input = {
    key: f.key,
    estimate: 1_000n,
    model: 'm1',
    pricePerToken: 10n,
    markupBps: 12000,
    holdTtlMs: 60_000,
  };
  const first = await admit(env.ctx, input); // loads the key's state
  await settleHolds(env.ctx, [{ holdId: first.hold.id, outcome: 'void' }]);
  expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('10000');

  armed = true; // the admit script runs, its reply is lost, ioredis reconnects and resends it
  const a = await admit(env.ctx, input);
  await settleHolds(env.ctx, [{ holdId: a.hold.id, outcome: 'void' }]);

  const pg = (await getAccountBalance(env.ctx.sql, f.accountId))!;
  expect(pg.balance - pg.held).toBe(10_000n);
  expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('10000');
});

it('a top-up credit whose reply was lost is resent and credits once', async () => {
  const f = await createKeyFixture(env.ctx, { balance: 1_000n });
  const first = await admit(env.ctx, {
    key: f.key,
    estimate: 100n,
    model: 'm1',
    pricePerToken: 10n,
    markupBps: 12000,
    holdTtlMs: 60_000,
  });
  await settleHolds(env.ctx, [{ holdId: first.hold.id, outcome: 'void' }]);
  armed = true; // the credit script runs, its reply is lost, ioredis resends it
  await topup(env.ctx, { accountId: f.accountId, amount: 5_000n, reference: `resend-${f.accountId}` });
  expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('6000');
});

it('an Idempotency-Key claim whose reply was lost is resent and still claims', async () => {
  const f = await createKeyFixture(env.ctx, { balance: 1_000n });
  await claimSubmission(env.ctx, f.key, 'warm-up'); // the script is loaded: the next call is one EVALSHA
  armed = true; // claim-1.lua runs, its reply is lost, ioredis resends it
  const c = await claimSubmission(env.ctx, f.key, 'order-1');
  expect('jobId' in c).toBe(true);
});
