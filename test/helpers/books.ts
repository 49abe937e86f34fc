import { expect } from 'vitest';
import type { Context } from '../../shared/context.js';
import type { HoldRow } from '../../shared/db/queries/holds.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { ledgerDrift } from './fixtures.js';
import { call } from './http.js';
import { waitFor } from './wait.js';

/** An account's holds, oldest first. */
export async function holdsOf(ctx: Context, accountId: string): Promise<HoldRow[]> {
  return ctx.sql<HoldRow[]>`
    select id, request_id, account_id, child_key_id, amount, period_day::text as period_day, model,
           price_ngonka_per_token, markup_bps, status, posted_amount, created_at, deadline
    from holds where account_id = ${accountId} order by created_at, id`;
}

/** Waits until every hold of the account resolved, and Redis gave back what was not charged. */
export async function settled(ctx: Context, accountId: string): Promise<HoldRow[]> {
  await waitFor('holds resolved', async () => {
    const [r] = await ctx.sql<{ n: number }[]>`
      select count(*)::int as n from holds where account_id = ${accountId} and status = 'open'`;
    return r?.n === 0;
  });
  // Redis is released right after the settlement transaction commits: give it that moment.
  const view = await waitFor('redis released', async () => {
    const v = await accountBooks(ctx, accountId);
    return v.redisAvailable === v.balance ? v : null;
  });
  expect(view.redisAvailable).toBe(view.balance);
  return holdsOf(ctx, accountId);
}

export interface Books {
  balance: bigint;
  /** What admission sees as spendable, from Redis. */
  redisAvailable: bigint | null;
  /** Requests of the account posted and billed by a charge transfer. */
  billed: number;
}

export async function accountBooks(ctx: Context, accountId: string): Promise<Books> {
  const [l] = await ctx.sql<
    { balance: bigint }[]
  >`select balance from ledger_accounts where id = ${accountId}`;
  const [c] = await ctx.sql<{ n: number }[]>`
    select count(*)::int as n from holds h join transfers t on t.kind = 'charge' and t.ref = h.charge_ref
    where h.account_id = ${accountId} and h.status = 'posted'`;
  const redis = await ctx.redis.get(ctx.keys.balance(accountId));
  return {
    balance: l?.balance ?? 0n,
    redisAvailable: redis === null ? null : BigInt(redis),
    billed: c?.n ?? 0,
  };
}

/** GET /api/account as its owner sees it. */
export async function accountView(baseUrl: string, jwt: string): Promise<Record<string, string>> {
  return (await call(baseUrl, 'GET', '/api/account', { token: jwt })).body;
}

export async function expectNoLedgerDrift(ctx: Context): Promise<void> {
  expect(await ledgerDrift(ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
}

/** What admission sees as an account's available balance in Redis vs Postgres' (balance − open holds). */
export async function availability(
  ctx: Context,
  accountId: string,
): Promise<{ redis: bigint | null; postgres: bigint }> {
  const pg = (await getAccountBalance(ctx.sql, accountId))!;
  const redis = await ctx.redis.get(ctx.keys.balance(accountId));
  return { redis: redis === null ? null : BigInt(redis), postgres: pg.balance - pg.held };
}
