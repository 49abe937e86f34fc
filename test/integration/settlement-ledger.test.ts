import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { MAX_USAGE_TOKENS, readUsage } from '../../shared/gonka/forced-fields.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, ledgerDrift } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

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
      where t.kind = 'charge' and t.ref = (select charge_ref from holds where id = ${a.hold.id}) order by p.amount`;
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

  it('does not wait on a key another transaction holds (a revoke deleting its children): billed all the same', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(f.key, 3_000n);
    // Another connection holds the key's row, as a management key's revoke does while it deletes
    // tens of thousands of children in one transaction.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const holder = env.ctx.sql.begin(async (tx) => {
      await tx`select id from child_keys where id = ${f.key.id} for no key update`;
      locked();
      await released;
    });
    await isLocked;
    try {
      const [r] = await settleHolds(env.ctx, [
        { holdId: a.hold.id, outcome: 'post', promptTokens: 20, completionTokens: 30 },
      ]);
      expect(r).toMatchObject({ status: 'posted', charged: 600n });
      const [u] = await env.ctx.sql`select cost_ngonka from key_usage_daily where child_key_id = ${f.key.id}`;
      expect(u).toEqual({ cost_ngonka: 600n });
      // More settlements of it while the row is still held: none waits on it, and each one's
      // catch-up of last_used_at is one of the same few tries, not a waiting connection each.
      for (let i = 0; i < 12; i++) {
        const more = await hold(f.key, 1_000n);
        const [m] = await settleHolds(env.ctx, [
          { holdId: more.hold.id, outcome: 'post', promptTokens: 1, completionTokens: 1 },
        ]);
        expect(m).toMatchObject({ status: 'posted' });
      }
    } finally {
      release();
      await holder;
    }
    // Its last use moves once the row is free (the limit alerts find keys to check by it).
    await waitFor('last_used_at', async () => {
      const [k] = await env.ctx.sql`select last_used_at from child_keys where id = ${f.key.id}`;
      return k?.last_used_at !== null;
    });
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('settles the most tokens a node’s usage may claim (readUsage refuses more: a hold could not record them)', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(f.key, 3_000n);
    const [r] = await settleHolds(env.ctx, [
      {
        holdId: a.hold.id,
        outcome: 'post',
        promptTokens: MAX_USAGE_TOKENS,
        completionTokens: MAX_USAGE_TOKENS,
      },
    ]);
    // Never above the hold, whatever the node claims.
    expect(r).toEqual({ holdId: a.hold.id, status: 'posted', charged: 3_000n });
    const [row] = await env.ctx
      .sql`select prompt_tokens, completion_tokens from holds where id = ${a.hold.id}`;
    expect(row).toEqual({ prompt_tokens: MAX_USAGE_TOKENS, completion_tokens: MAX_USAGE_TOKENS });
    expect(readUsage({ prompt_tokens: MAX_USAGE_TOKENS, completion_tokens: 0 })).not.toBeNull();
    expect(readUsage({ prompt_tokens: MAX_USAGE_TOKENS + 1, completion_tokens: 0 })).toBeNull();
    expect(readUsage({ prompt_tokens: 1, completion_tokens: MAX_USAGE_TOKENS + 1 })).toBeNull();
    expect(readUsage({ prompt_tokens: -1, completion_tokens: 1 })).toBeNull();
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

  it("commits a caller's writes with the settlement or not at all (a cancelled job's answer with its bill)", async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n });
    const a = await hold(f.key, 3_000n);
    const post = { holdId: a.hold.id, outcome: 'post', promptTokens: 20, completionTokens: 30 } as const;
    const failing = async () => {
      throw new Error('the answer could not be written');
    };
    await expect(settleHolds(env.ctx, [post], { inTransaction: failing })).rejects.toThrow(/answer/);
    const [h] = await env.ctx.sql`select status from holds where id = ${a.hold.id}`;
    expect(h).toEqual({ status: 'open' });
    expect(await getAccountBalance(env.ctx.sql, f.accountId)).toEqual({ balance: 10_000n, held: 3_000n });

    let seen: unknown;
    await settleHolds(env.ctx, [post], {
      inTransaction: async (tx) => {
        [seen] = await tx`select status, posted_amount from holds where id = ${a.hold.id}`;
      },
    });
    expect(seen).toEqual({ status: 'posted', posted_amount: 600n });
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

  it('books one charge per account per batch, named by each hold it bills with its own cost and tokens', async () => {
    const a = await createKeyFixture(env.ctx, { balance: 100_000n });
    const a2 = await createKeyFixture(env.ctx, { accountId: a.accountId }); // a second key, same balance
    const b = await createKeyFixture(env.ctx, { balance: 100_000n });
    const [h1, h2, h3, h4] = [
      await hold(a.key, 5_000n),
      await hold(a2.key, 5_000n),
      await hold(b.key, 5_000n),
      await hold(a.key, 5_000n),
    ];
    await settleHolds(env.ctx, [
      { holdId: h1.hold.id, outcome: 'post', promptTokens: 10, completionTokens: 20 }, // 360
      { holdId: h2.hold.id, outcome: 'post', promptTokens: 5, completionTokens: 5 }, // 120
      { holdId: h3.hold.id, outcome: 'post', promptTokens: 1, completionTokens: 1 }, // 24
      { holdId: h4.hold.id, outcome: 'void' },
    ]);
    const rows = await env.ctx.sql<
      {
        id: string;
        status: string;
        posted_amount: bigint;
        prompt_tokens: number | null;
        completion_tokens: number | null;
        charge_ref: string | null;
      }[]
    >`select id, status, posted_amount, prompt_tokens, completion_tokens, charge_ref from holds
      where id = any(${[h1.hold.id, h2.hold.id, h3.hold.id, h4.hold.id]})`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(h1.hold.id)).toMatchObject({
      status: 'posted',
      posted_amount: 360n,
      prompt_tokens: 10,
      completion_tokens: 20,
    });
    expect(byId.get(h2.hold.id)).toMatchObject({
      status: 'posted',
      posted_amount: 120n,
      prompt_tokens: 5,
      completion_tokens: 5,
    });
    expect(byId.get(h4.hold.id)).toMatchObject({
      status: 'voided',
      posted_amount: 0n,
      prompt_tokens: null,
      charge_ref: null,
    });
    const refA = byId.get(h1.hold.id)!.charge_ref;
    const refB = byId.get(h3.hold.id)!.charge_ref;
    expect(refA).toMatch(/^chg_/);
    expect(byId.get(h2.hold.id)!.charge_ref).toBe(refA);
    expect(refB).not.toBe(refA);

    const legs = async (ref: string | null) =>
      env.ctx.sql<{ a: string; amount: bigint; metadata: Record<string, unknown> }[]>`
        select p.ledger_account_id as a, p.amount, t.metadata from postings p join transfers t on t.id = p.transfer_id
        where t.kind = 'charge' and t.ref = ${ref} order by p.amount`;
    const chargeA = await legs(refA);
    expect(chargeA.map(({ a, amount }) => ({ a, amount }))).toEqual([
      { a: a.accountId, amount: -480n },
      { a: 'sys_revenue', amount: 80n },
      { a: 'sys_upstream_cost', amount: 400n },
    ]);
    expect(chargeA[0]!.metadata).toEqual({ requests: 2, prompt_tokens: 15, completion_tokens: 25 });
    expect((await legs(refB)).map(({ a, amount }) => ({ a, amount }))).toEqual([
      { a: b.accountId, amount: -24n },
      { a: 'sys_revenue', amount: 4n },
      { a: 'sys_upstream_cost', amount: 20n },
    ]);
    // The account's statement: one entry for the two requests, after its top-up.
    const entries = await env.ctx.sql<{ kind: string; amount: bigint; balance_after: bigint }[]>`
      select t.kind, p.amount, p.balance_after from postings p join transfers t on t.id = p.transfer_id
      where p.ledger_account_id = ${a.accountId} order by p.id`;
    expect(entries).toEqual([
      { kind: 'topup', amount: 100_000n, balance_after: 100_000n },
      { kind: 'charge', amount: -480n, balance_after: 99_520n },
    ]);
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('pays the referral share of the whole charge, rounded down once', async () => {
    const l1 = await createKeyFixture(env.ctx);
    const spender = await createKeyFixture(env.ctx, { balance: 100_000n, referredBy: l1.accountId });
    const holds = [await hold(spender.key, 1_000n), await hold(spender.key, 1_000n)];
    // 13 tokens each: a charge of 156, of which 10% is 15.6 → 15 per request.
    await settleHolds(
      env.ctx,
      holds.map((h) => ({
        holdId: h.hold.id,
        outcome: 'post' as const,
        promptTokens: 13,
        completionTokens: 0,
      })),
    );
    // floor(10% of 312) = 31, where rounding each request apart would pay 2 × floor(15.6) = 30.
    expect((await getAccountBalance(env.ctx.sql, l1.accountId))?.balance).toBe(31n);
    expect((await getAccountBalance(env.ctx.sql, spender.accountId))?.balance).toBe(100_000n - 312n);
    const [r] = await env.ctx.sql<{ n: number }[]>`
      select count(*)::int as n from transfers where kind = 'referral'
      and ref = (select charge_ref from holds where id = ${holds[0]!.hold.id})`;
    expect(r!.n).toBe(1);
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('carries each share’s fraction to the next charge: 20 charges of 12 pay what their sum would', async () => {
    const l2 = await createKeyFixture(env.ctx);
    const l1 = await createKeyFixture(env.ctx, { referredBy: l2.accountId });
    const spender = await createKeyFixture(env.ctx, { balance: 100_000n, referredBy: l1.accountId });
    // One token each (12 nGNK), each its own charge: 10% is 1.2 and 3% is 0.36 per charge, which
    // rounding each charge apart paid as 1 and 0 (20 and 0 in all). A charge's margin is 2, so L2's
    // share sometimes waits for the next charge's margin: it is carried, not lost.
    for (let i = 0; i < 20; i++) {
      const h = await hold(spender.key, 100n);
      await settleHolds(env.ctx, [
        { holdId: h.hold.id, outcome: 'post', promptTokens: 1, completionTokens: 0 },
      ]);
    }
    // 240 charged: L1 floor(24) = 24 paid. L2 is owed 7.2, but the last charges' margins went to
    // L1: 6 paid, 1.2 carried (in 1/10,000ths of an nGNK).
    const balance = async (f: { accountId: string }) =>
      (await getAccountBalance(env.ctx.sql, f.accountId))?.balance;
    const carryOf = async () =>
      (
        await env.ctx.sql<{ l1: bigint; l2: bigint }[]>`
          select referral_carry_l1 as l1, referral_carry_l2 as l2 from accounts where id = ${spender.accountId}`
      )[0];
    expect(await balance(spender)).toBe(100_000n - 240n);
    expect([await balance(l1), await balance(l2)]).toEqual([24n, 6n]);
    expect(await carryOf()).toEqual({ l1: 0n, l2: 12_000n });
    // A larger charge (120, margin 20) pays what was carried: 360 charged in all, L1 floor(36) = 36
    // and L2 floor(10.8) = 10, 0.8 carried.
    const big = await hold(spender.key, 1_000n);
    await settleHolds(env.ctx, [
      { holdId: big.hold.id, outcome: 'post', promptTokens: 10, completionTokens: 0 },
    ]);
    expect([await balance(l1), await balance(l2)]).toEqual([36n, 10n]);
    expect(await carryOf()).toEqual({ l1: 0n, l2: 8_000n });
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('carries exactly under concurrent settlements of one account (each fraction counted once)', async () => {
    const l1 = await createKeyFixture(env.ctx);
    const spender = await createKeyFixture(env.ctx, { balance: 100_000n, referredBy: l1.accountId });
    const holds = await Promise.all(Array.from({ length: 30 }, () => hold(spender.key, 100n)));
    await Promise.all(
      holds.map((h) =>
        settleHolds(env.ctx, [{ holdId: h.hold.id, outcome: 'post', promptTokens: 1, completionTokens: 0 }]),
      ),
    );
    // 30 × 12 = 360 charged, however the 30 settlements interleaved: floor(36) = 36.
    expect((await getAccountBalance(env.ctx.sql, l1.accountId))?.balance).toBe(36n);
    expect(await ledgerDrift(env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });

  it('refuses a hold or a job booked to another account than its child key’s', async () => {
    const a = await createKeyFixture(env.ctx, { balance: 1_000n });
    const b = await createKeyFixture(env.ctx, { balance: 1_000n });
    await expect(
      env.ctx.sql`insert into holds (id, request_id, account_id, child_key_id, amount, period_day, model,
                                     price_ngonka_per_token, markup_bps, deadline)
                  values ('hold_x', 'req_x', ${a.accountId}, ${b.key.id}, 1, current_date, 'm', 1, 0, now())`,
    ).rejects.toThrow(/holds_child_key_fkey/);
    const h = await hold(a.key, 10n);
    await expect(
      env.ctx.sql`insert into jobs (id, account_id, management_key_id, child_key_id, hold_id, model, request)
                  values ('job_x', ${a.accountId}, ${b.mkId}, ${a.key.id}, ${h.hold.id}, 'm', '{}')`,
    ).rejects.toThrow(/jobs_child_key_fkey/);
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
