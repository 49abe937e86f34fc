import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdWriterFor } from '../../shared/admission/hold-writer.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, newHoldOf } from '../helpers/fixtures.js';
import { refuseHoldsOf } from '../helpers/refuse-holds.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

describe('the sync hold writer', () => {
  it('writes holds that arrive together in one group, and fails only the hold Postgres refuses', async () => {
    const good = await createKeyFixture(env.ctx);
    const bad = await createKeyFixture(env.ctx);
    const acceptHolds = await refuseHoldsOf(env.ctx.sql, bad.key.id);
    try {
      const writer = holdWriterFor(env.ctx.sql, 200); // long enough for all three to share a group
      const [a, b, c] = [newHoldOf(good), newHoldOf(bad), newHoldOf(good)];
      const results = await Promise.allSettled([writer.add(a), writer.add(b), writer.add(c)]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(String((results[1] as PromiseRejectedResult).reason)).toContain('test_refuse');
      const rows = await env.ctx.sql<{ id: string }[]>`
        select id from holds where id in ${env.ctx.sql([a.id, b.id, c.id])} order by id`;
      expect(rows.map((r) => r.id).sort()).toEqual([a.id, c.id].sort());
    } finally {
      await acceptHolds();
    }
  });
});
