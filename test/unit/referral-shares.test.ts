import { describe, expect, it } from 'vitest';
import { referralShares } from '../../shared/ledger/referral-shares.js';

const BPS = { l1: 1_000n, l2: 300n }; // 10% and 3%
const NONE = { l1: 0n, l2: 0n };

describe('referralShares', () => {
  it('pays 10% and 3% of a charge whose margin covers them', () => {
    expect(referralShares(1_000n, 500n, BPS, NONE)).toEqual({ l1: 100n, l2: 30n, carry: NONE });
  });

  it("carries a share's fraction to the next charge, so split charges pay what one would", () => {
    // 10 charges of 7 nGNK: 0.7 and 0.21 each, 7 and 2.1 in all.
    let carry = NONE;
    let paid = { l1: 0n, l2: 0n };
    for (let i = 0; i < 10; i++) {
      const s = referralShares(7n, 7n, BPS, carry);
      paid = { l1: paid.l1 + s.l1, l2: paid.l2 + s.l2 };
      carry = s.carry;
    }
    expect(paid).toEqual({ l1: 7n, l2: 2n });
    expect(carry).toEqual({ l1: 0n, l2: 1_000n }); // the 0.1 of 2.1 left over
  });

  it('adds up to the total charge share rounded down once, however a total is split', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    for (let run = 0; run < 50; run++) {
      let carry = NONE;
      let paid = { l1: 0n, l2: 0n };
      let total = 0n;
      for (let i = 0, n = 1 + (rand() % 40); i < n; i++) {
        const charge = BigInt(rand() % 100_000);
        total += charge;
        const s = referralShares(charge, charge, BPS, carry);
        paid = { l1: paid.l1 + s.l1, l2: paid.l2 + s.l2 };
        carry = s.carry;
      }
      expect(paid).toEqual({ l1: (total * 1_000n) / 10_000n, l2: (total * 300n) / 10_000n });
    }
  });

  it('pays from the margin only, L1 first, and carries what it could not pay', () => {
    expect(referralShares(100n, 12n, BPS, NONE)).toEqual({ l1: 10n, l2: 2n, carry: { l1: 0n, l2: 10_000n } });
    expect(referralShares(100n, 5n, BPS, NONE)).toEqual({
      l1: 5n,
      l2: 0n,
      carry: { l1: 50_000n, l2: 30_000n },
    });
    expect(referralShares(100n, 0n, BPS, NONE)).toEqual({
      l1: 0n,
      l2: 0n,
      carry: { l1: 100_000n, l2: 30_000n },
    });
  });

  it('owes no L2 share without an L2 referrer', () => {
    expect(referralShares(1_000n, 500n, { l1: 1_000n, l2: null }, { l1: 0n, l2: 0n })).toEqual({
      l1: 100n,
      l2: 0n,
      carry: NONE,
    });
  });
});
