import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { ApiError } from '../../shared/errors.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { topup } from '../../shared/ledger/topup.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, ledgerDrift } from '../helpers/fixtures.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

type Op =
  | { op: 'topup'; amount: number }
  | { op: 'hold'; estimate: number }
  | { op: 'post'; pick: number; prompt: number; completion: number; twice: boolean }
  | { op: 'void'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('topup' as const), amount: fc.integer({ min: 1, max: 50_000 }) }),
  fc.record({ op: fc.constant('hold' as const), estimate: fc.integer({ min: 0, max: 30_000 }) }),
  fc.record({
    op: fc.constant('post' as const),
    pick: fc.nat(),
    prompt: fc.integer({ min: 0, max: 2_000 }),
    completion: fc.integer({ min: 0, max: 2_000 }),
    twice: fc.boolean(),
  }),
  fc.record({ op: fc.constant('void' as const), pick: fc.nat() }),
);

describe('ledger properties', () => {
  it('any sequence of top-ups, holds, posts and voids keeps transfers balanced and available ≥ 0', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const f = await createKeyFixture(env.ctx);
        const open: string[] = [];
        for (const o of ops) {
          if (o.op === 'topup') {
            await topup(env.ctx, { accountId: f.accountId, amount: BigInt(o.amount), reference: `p${n++}` });
          } else if (o.op === 'hold') {
            try {
              const a = await admit(env.ctx, {
                key: f.key,
                estimate: BigInt(o.estimate),
                model: 'm',
                pricePerToken: 3n,
                markupBps: 11000,
                holdTtlMs: 60_000,
              });
              open.push(a.hold.id);
            } catch (err) {
              if (!(err instanceof ApiError) || err.type !== 'insufficient_balance') throw err;
            }
          } else if (open.length > 0) {
            const [holdId] = open.splice(o.pick % open.length, 1) as [string];
            const s =
              o.op === 'post'
                ? { holdId, outcome: 'post' as const, promptTokens: o.prompt, completionTokens: o.completion }
                : { holdId, outcome: 'void' as const };
            await settleHolds(env.ctx, [s]);
            if (o.op === 'post' && o.twice) await settleHolds(env.ctx, [s]);
          }
          const b = (await getAccountBalance(env.ctx.sql, f.accountId))!;
          expect(b.balance - b.held).toBeGreaterThanOrEqual(0n);
          // Redis loads an account's balance on its first admission; from then on it must agree.
          const cached = await env.ctx.redis.get(env.ctx.keys.balance(f.accountId));
          if (cached !== null) expect(cached).toBe(String(b.balance - b.held));
        }
        expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
      }),
      { numRuns: 40 },
    );
  });
});
