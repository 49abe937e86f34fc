import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { flushPrefix } from '../helpers/scheduler.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/**
 * Redis lost while admitted requests' holds are still on their way to Postgres (a sync chat's hold
 * waits SYNC_HOLD_WRITE_WAIT_MS to share its insert; the answer does not wait for it). The key's
 * next request rebuilds its RPM window, counters and the account's balance from Postgres: read
 * before those writes land, the rebuild left those requests out, and the key admitted a second
 * RPM limit's worth of requests in the same minute (the soak's --lose-redis found RPM overshoots of
 * a few requests). Here the writes wait longer than usual, and RECONCILE_INFLIGHT_MS (the gap a
 * request's Redis step and its write may have) is set above that wait, as by default (100 > 10).
 */

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { SYNC_HOLD_WRITE_WAIT_MS: '300', RECONCILE_INFLIGHT_MS: '1500' } });
});
afterAll(async () => {
  await stack?.close();
});

const chat = (token: string, content: string) =>
  call(stack.server.url, 'POST', '/v1/chat/completions', {
    token,
    body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content }], max_tokens: 5 },
  });

describe('Redis lost while holds are being written', () => {
  it('the rebuilt RPM window counts the requests admitted just before', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url, { child: { rate_limit_rpm: 5 } });
    // The key's state is loaded (its first request), so the next five are admitted by Redis alone.
    expect((await chat(c.childKey, 'warm-up')).status).toBe(200);
    const admitted = Promise.all(Array.from({ length: 4 }, (_, i) => chat(c.childKey, `before ${i}`)));
    const holdsInPostgres = async () =>
      (
        await ctx.sql<{ n: number }[]>`
          select count(*)::int as n from holds where child_key_id = ${c.childId}`
      )[0]!.n;
    // Admitted (each took a slot of the window) but not all written yet: Redis goes now.
    for (;;) {
      const window = await ctx.redis.zcard(ctx.keys.rpm(c.accountId, c.childId));
      if (window === 5) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await holdsInPostgres()).toBeLessThan(5);
    await flushPrefix(ctx);

    const after = await Promise.all(Array.from({ length: 3 }, (_, i) => chat(c.childKey, `after ${i}`)));
    expect((await admitted).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(after.map((r) => r.status)).toEqual([429, 429, 429]);
  });
});
