import { afterAll, beforeAll, expect } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { insertHold, type NewHold } from '../../shared/db/queries/holds.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { dayKey, monthKey } from '../../shared/periods.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { holdFor } from './admit.js';
import { availability } from './books.js';
import { createTestEnv, type TestEnv } from './context.js';
import { createKeyFixture, type KeyFixture } from './fixtures.js';
import { failingOnce } from './script-hooks.js';

/**
 * A test file's world for Redis losing some of an account's values while its money moves (the
 * partial-loss and money-edges tests): its own environment on a manual clock, and the steps those
 * tests share.
 * Prices as holdFor's: 12 nGNK per token charged.
 */
export function partialLossWorld() {
  const clock = new ManualClock('2026-11-26T12:00:00.000Z');
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ clock });
  });
  afterAll(async () => {
    await env?.close();
  });
  const ctx = () => env.ctx;

  /** 20 tokens: a charge of 240. */
  const post = (holdId: string) => ({
    holdId,
    outcome: 'post' as const,
    promptTokens: 10,
    completionTokens: 10,
  });

  /** A hold of 400 posted at 240 in Postgres, whose Redis release failed after the commit. */
  async function settledButNotReleased(opts: { limitDaily?: bigint; limitMonthly?: bigint }) {
    const f = await createKeyFixture(ctx(), { balance: 10_000n, ...opts });
    const a = await holdFor(ctx(), f.key, 400n);
    await expect(settleHolds(failingOnce(ctx(), 'releaseHolds'), [post(a.hold.id)])).rejects.toThrow();
    return { f, a };
  }

  /**
   * A sync chat whose background hold write failed (a Postgres blip): served anyway, its settlement
   * writes the hold from its terms (settleServed), so Postgres never has it open.
   */
  async function servedUnwritten(f: KeyFixture, estimate: bigint) {
    const served = await holdFor(ctx(), f.key, estimate, {
      background: true,
      write: async () => {
        throw new Error('connection reset');
      },
    });
    await served.recorded.catch(() => {});
    return served;
  }

  /** Admit with the hold's write held back until `land()`. */
  async function slowWrite(f: KeyFixture, estimate: bigint) {
    let land!: () => void;
    const gate = new Promise<void>((r) => {
      land = r;
    });
    const a = await holdFor(ctx(), f.key, estimate, {
      background: true,
      write: async (h: NewHold) => {
        await gate;
        await insertHold(ctx().sql, h);
      },
    });
    return {
      a,
      land: async () => {
        land();
        await a.recorded;
      },
    };
  }

  const dayCounter = (f: KeyFixture) => ctx().keys.day(f.accountId, f.key.id, dayKey(clock.now()));
  /** No drift between Redis and Postgres for anything reconcile compares (balance, counters, records). */
  const expectAgreement = async () => {
    expect((await runReconcile(ctx(), {})).drift).toEqual([]);
  };

  return {
    clock,
    get ctx() {
      return env.ctx;
    },
    get config() {
      return env.config;
    },
    post,
    dayCounter,
    monthCounter: (f: KeyFixture) => ctx().keys.month(f.accountId, f.key.id, monthKey(clock.now())),
    balance: (f: KeyFixture) => ctx().keys.balance(f.accountId),
    redisValue: async (key: string) => BigInt((await ctx().redis.get(key)) ?? '-1'),
    expectAgreement,
    /** 240 charged and 100 held today of `f`'s 10,000, alike in Redis and Postgres, nothing adrift. */
    expectCharged240Held100: async (f: KeyFixture) => {
      expect(await ctx().redis.get(dayCounter(f))).toBe('340');
      expect(await availability(ctx(), f.accountId)).toEqual({ redis: 9_660n, postgres: 9_660n });
      await expectAgreement();
    },
    settledButNotReleased,
    /** Everything Redis has of the account gone at once (a restart without persistence). */
    flushAccount: async (accountId: string) => {
      const keys = await ctx().redis.keys(`${env.config.REDIS_PREFIX}:{a:${accountId}}*`);
      if (keys.length) await ctx().redis.del(...keys);
    },
    /** The settlement's retry (BullMQ's, or reconcile's finish-settlements): its Redis steps again. */
    retry: async (holdId: string) => {
      const [again] = await settleHolds(ctx(), [post(holdId)]);
      expect(again?.status).toBe('already');
    },
    slowWrite,
    servedUnwritten,
  };
}
