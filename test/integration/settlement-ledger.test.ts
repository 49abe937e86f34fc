import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, ledgerDrift } from '../helpers/fixtures.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

// price 10 nGNK/token, markup ×1.2 → 12 nGNK per token charged.
const hold = (key: Awaited<ReturnType<typeof createKeyFixture>>['key'], estimate: bigint) =>
  admit(env.ctx, { key, estimate, model: 'm1', pricePerToken: 10n, markupBps: 12000, holdTtlMs: 60_000 });

describe('settlement', () => {
  it('charges the actual cost, books upstream cost and margin, and releases the rest', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, limitDaily: 5_000n });
    const a = await hold(f.key, 3_000n);
    const [r] = await settleHolds(env.ctx, [
      { holdId: a.hold.id, outcome: 'post', promptTokens: 20, completionTokens: 30 },
    ]);
    expect(r).toEqual({ holdId: a.hold.id, status: 'posted', charged: 600n });
    expect(await getAccountBalance(env.ctx.sql, f.accountId)).toEqual({ balance: 9_400n, held: 0n });
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('9400');
    expect(
      await env.ctx.redis.get(env.ctx.keys.day(f.accountId, f.key.id, a.hold.periodDay.replaceAll('-', ''))),
    ).toBe('600');
    const legs = await env.ctx
      .sql`select p.ledger_account_id as a, p.amount from postings p join transfers t on t.id = p.transfer_id
      where t.kind = 'charge' and t.ref = ${a.hold.requestId} order by p.amount`;
    expect(legs).toEqual([
      { a: f.accountId, amount: -600n },
      { a: 'sys_revenue', amount: 100n },
      { a: 'sys_upstream_cost', amount: 500n },
    ]);
    const [u] = await env.ctx
      .sql`select requests, prompt_tokens, completion_tokens, cost_ngonka from key_usage_daily where child_key_id = ${f.key.id}`;
    expect(u).toEqual({ requests: 1n, prompt_tokens: 20n, completion_tokens: 30n, cost_ngonka: 600n });
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('gives back exactly what a hold past 2^53 nGNK did not use', async () => {
    // 2^53 + 3 is not a double: as one it reads 2^53 + 4, and the release would give back 1 nGNK too many.
    const big = 2n ** 53n + 3n;
    const f = await createKeyFixture(env.ctx, { balance: 2n * big, limitDaily: 2n * big });
    const a = await hold(f.key, big);
    await settleHolds(env.ctx, [
      { holdId: a.hold.id, outcome: 'post', promptTokens: 20, completionTokens: 30 },
    ]);
    const remaining = 2n * big - 600n;
    expect(await getAccountBalance(env.ctx.sql, f.accountId)).toEqual({ balance: remaining, held: 0n });
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe(remaining.toString());
    expect(
      await env.ctx.redis.get(env.ctx.keys.day(f.accountId, f.key.id, a.hold.periodDay.replaceAll('-', ''))),
    ).toBe('600');
  });

  it('charges once when the same settlement runs twice, even concurrently', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(f.key, 3_000n);
    const s = { holdId: a.hold.id, outcome: 'post' as const, promptTokens: 10, completionTokens: 10 };
    const results = await Promise.all([
      settleHolds(env.ctx, [s]),
      settleHolds(env.ctx, [s]),
      settleHolds(env.ctx, [s]),
    ]);
    expect(
      results
        .flat()
        .map((r) => r.status)
        .sort(),
    ).toEqual(['already', 'already', 'posted']);
    expect((await getAccountBalance(env.ctx.sql, f.accountId))?.balance).toBe(10_000n - 240n);
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe(String(10_000 - 240));
  });

  it('never charges more than the hold', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(f.key, 100n);
    const [r] = await settleHolds(env.ctx, [
      { holdId: a.hold.id, outcome: 'post', promptTokens: 500, completionTokens: 500 },
    ]);
    expect(r?.charged).toBe(100n);
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('voids a hold: nothing charged, everything released', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000n, limitDaily: 1_000n });
    const a = await hold(f.key, 800n);
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('200');
    await settleHolds(env.ctx, [{ holdId: a.hold.id, outcome: 'void' }]);
    expect(await env.ctx.redis.get(env.ctx.keys.balance(f.accountId))).toBe('1000');
    expect(await getAccountBalance(env.ctx.sql, f.accountId)).toEqual({ balance: 1_000n, held: 0n });
    await hold(f.key, 1_000n); // the whole limit is free again
  });

  it('pays referrers 10% (L1) and 3% (L2) of the charge from revenue', async () => {
    const l2 = await createKeyFixture(env.ctx);
    const l1 = await createKeyFixture(env.ctx, { referredBy: l2.accountId });
    const spender = await createKeyFixture(env.ctx, { balance: 100_000n, referredBy: l1.accountId });
    const a = await hold(spender.key, 50_000n);
    await settleHolds(env.ctx, [
      { holdId: a.hold.id, outcome: 'post', promptTokens: 500, completionTokens: 500 },
    ]);
    // charge 12,000: L1 1,200, L2 360; the spender pays only the charge.
    expect((await getAccountBalance(env.ctx.sql, spender.accountId))?.balance).toBe(88_000n);
    expect((await getAccountBalance(env.ctx.sql, l1.accountId))?.balance).toBe(1_200n);
    expect((await getAccountBalance(env.ctx.sql, l2.accountId))?.balance).toBe(360n);
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('refuses to write an unbalanced transfer or edit a posting', async () => {
    await expect(env.ctx.sql`update postings set amount = amount + 1`).rejects.toThrow(/immutable/);
    await expect(
      env.ctx.sql.begin(async (tx) => {
        const [t] = await tx`insert into transfers (kind, ref) values ('adjustment', 'bad') returning id`;
        await tx`insert into postings (transfer_id, ledger_account_id, amount, balance_after) values (${t!.id}, 'sys_revenue', 5, 5)`;
      }),
    ).rejects.toThrow(/does not sum to zero/);
  });
});
