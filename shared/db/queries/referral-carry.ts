import type { TxSql } from '../client.js';

/**
 * What a referred account's referral shares were not paid yet, in 1/10,000ths of an nGNK: the
 * fraction they were rounded down by, and what a charge's margin could not cover (migration 025).
 */
export interface ReferralCarry {
  accountId: string;
  l1: bigint;
  l2: bigint;
}

/**
 * Lock the carries of the accounts a settlement charges (in id order, so settlements never
 * deadlock on them) and read them: two settlements of one account must not both carry the same
 * fraction. FOR NO KEY UPDATE, which a hold's insert (its foreign key takes KEY SHARE) never waits on.
 */
export async function lockReferralCarries(
  tx: TxSql,
  accountIds: string[],
): Promise<Map<string, ReferralCarry>> {
  if (accountIds.length === 0) return new Map();
  const rows = await tx<{ id: string; referral_carry_l1: bigint; referral_carry_l2: bigint }[]>`
    select id, referral_carry_l1, referral_carry_l2 from accounts
    where id = any(${accountIds}::text[]) order by id for no key update`;
  return new Map(
    rows.map((r) => [r.id, { accountId: r.id, l1: r.referral_carry_l1, l2: r.referral_carry_l2 }]),
  );
}

/** Keep what this settlement's shares were rounded down by, for the account's next charge. */
export async function saveReferralCarries(tx: TxSql, carries: ReferralCarry[]): Promise<void> {
  if (carries.length === 0) return;
  await tx`
    update accounts a set referral_carry_l1 = c.l1, referral_carry_l2 = c.l2
    from unnest(${carries.map((c) => c.accountId)}::text[], ${carries.map((c) => c.l1.toString())}::int8[],
                ${carries.map((c) => c.l2.toString())}::int8[]) as c(id, l1, l2)
    where a.id = c.id`;
}
