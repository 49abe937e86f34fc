import { minNgonka } from '../money.js';

/** What one charge pays an account's referrers, in nGNK, and what it leaves owed. */
export interface ReferralShares {
  l1: bigint;
  l2: bigint;
  /** Owed and not paid, in 1/10,000ths of an nGNK, for the account's next charge. */
  carry: { l1: bigint; l2: bigint };
}

/**
 * What an account's referrers are paid from one charge (API.md: L1 10% and L2 3% "of each settled
 * charge", the charge being one settlement transfer), in nGNK: each share of the charge plus what
 * the account's earlier charges left unpaid (`carry`, in 1/10,000ths of an nGNK), rounded down, and
 * paid from the charge's margin, never beyond it (L1 first). What is not paid is carried to the
 * account's next charge (migration 025), so however requests are grouped into charges, an
 * account's shares add up to its total's share rounded down once.
 */
export function referralShares(
  charge: bigint,
  margin: bigint,
  bps: { l1: bigint; l2: bigint | null },
  carry: { l1: bigint; l2: bigint },
): ReferralShares {
  const owed1 = charge * bps.l1 + carry.l1;
  const owed2 = bps.l2 === null ? 0n : charge * bps.l2 + carry.l2;
  const l1 = minNgonka(owed1 / 10_000n, margin);
  const l2 = minNgonka(owed2 / 10_000n, margin - l1);
  return { l1, l2, carry: { l1: owed1 - l1 * 10_000n, l2: owed2 - l2 * 10_000n } };
}
