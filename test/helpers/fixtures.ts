import { randomBytes } from 'node:crypto';
import { generateApiKey } from '../../shared/api-keys.js';
import type { Context } from '../../shared/context.js';
import type { ChildKeyIdentity } from '../../shared/db/queries/admission-state.js';
import type { NewHold } from '../../shared/db/queries/holds.js';
import { newId } from '../../shared/ids.js';
import { topup } from '../../shared/ledger/topup.js';

export interface KeyFixture {
  accountId: string;
  mkId: string;
  key: ChildKeyIdentity;
  plainKey: string;
}

/**
 * An account with a balance, a management key and one child key, written straight to Postgres:
 * for tests of admission and settlement that are not about the HTTP routes that create them.
 */
export async function createKeyFixture(
  ctx: Context,
  opts: {
    balance?: bigint;
    accountId?: string;
    referredBy?: string;
    limitDaily?: bigint | null;
    limitMonthly?: bigint | null;
    rpm?: number | null;
    expiresAt?: Date | null;
  } = {},
): Promise<KeyFixture> {
  const accountId = opts.accountId ?? newId('acct');
  if (!opts.accountId) {
    await ctx.sql`insert into accounts (id, email, password_hash, referral_code, referred_by)
      values (${accountId}, ${`${accountId}@example.test`}, 'x', ${randomBytes(6).toString('hex')}, ${opts.referredBy ?? null})`;
    await ctx.sql`insert into ledger_accounts (id, kind) values (${accountId}, 'customer')`;
  }
  const mkId = newId('mk');
  const mk = generateApiKey('gm');
  await ctx.sql`insert into management_keys (id, account_id, name, key_hash, key_prefix)
    values (${mkId}, ${accountId}, 'mk', ${mk.hash}, ${mk.prefix})`;
  const ckId = newId('ck');
  const ck = generateApiKey('gc');
  await ctx.sql`insert into child_keys (id, account_id, management_key_id, name, key_hash, key_prefix,
      limit_daily_ngonka, limit_monthly_ngonka, rate_limit_rpm, expires_at)
    values (${ckId}, ${accountId}, ${mkId}, 'ck', ${ck.hash}, ${ck.prefix}, ${opts.limitDaily?.toString() ?? null},
      ${opts.limitMonthly?.toString() ?? null}, ${opts.rpm ?? null}, ${opts.expiresAt ?? null})`;
  if (opts.balance && opts.balance > 0n) {
    await topup(ctx, {
      accountId,
      amount: opts.balance,
      reference: `fixture-${randomBytes(6).toString('hex')}`,
    });
  }
  return {
    accountId,
    mkId,
    key: { id: ckId, account_id: accountId, management_key_id: mkId },
    plainKey: ck.plain,
  };
}

/** Every transfer sums to zero and every balance equals its postings: the ledger's invariants. */
export async function ledgerDrift(ctx: Context): Promise<{ unbalanced: number; mismatched: number }> {
  const [u] = await ctx.sql<{ n: bigint }[]>`
    select count(*)::bigint as n from (select transfer_id from postings group by transfer_id having sum(amount) <> 0) t`;
  const [m] = await ctx.sql<{ n: bigint }[]>`
    select count(*)::bigint as n from ledger_accounts l
    where l.balance <> coalesce((select sum(amount) from postings p where p.ledger_account_id = l.id), 0)`;
  return { unbalanced: Number(u?.n ?? 0), mismatched: Number(m?.n ?? 0) };
}

/** A new open hold of the fixture's key (not written): 100 nGNK unless told, a minute to live. */
export function newHoldOf(f: KeyFixture, h: { requestId?: string; amount?: bigint } = {}): NewHold {
  const now = new Date();
  return {
    id: newId('hold'),
    requestId: h.requestId ?? newId('req'),
    accountId: f.accountId,
    childKeyId: f.key.id,
    amount: h.amount ?? 100n,
    periodDay: now.toISOString().slice(0, 10),
    model: 'm',
    pricePerToken: 1n,
    markupBps: 10000,
    createdAt: now,
    deadline: new Date(now.getTime() + 60_000),
  };
}
