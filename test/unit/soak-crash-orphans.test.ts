import { describe, expect, it } from 'vitest';
import { type CrashOrphan, explainedByOrphans } from '../../scripts/soak/crash-orphans.js';
import type { DriftItem } from '../../shared/reconcile/types.js';

/**
 * The soak lets the reconciliation report what a killed api's unrecorded holds leave (docs/operations.md "What
 * a crash costs"), and nothing more: their records, and their key's counters and account's balance
 * tight (the check counts their reservations in what both should read, and leaves the tight side
 * alone while they live, so a Redis loss's tightness stays too). Anything else stays a failure.
 */
const orphans: CrashOrphan[] = [
  { holdId: 'hold_a', accountId: 'acct_1', keyId: 'ck_1', amount: 384n, cause: 'api', admittedAt: null },
  { holdId: 'hold_b', accountId: 'acct_1', keyId: 'ck_2', amount: 100n, cause: 'workers', admittedAt: 1 },
];
const drift = (
  check: DriftItem['check'],
  subject: string,
  expected?: string,
  actual?: string,
): DriftItem => ({
  check,
  subject,
  message: 'm',
  ...(expected !== undefined ? { expected } : {}),
  ...(actual !== undefined ? { actual } : {}),
});

describe('soak: drift explained by crash orphans', () => {
  it('allows an orphan’s own record, and no other record', () => {
    expect(
      explainedByOrphans(drift('redis_hold_records', 'p:{a:acct_1}:h:hold_a', undefined, '384'), orphans),
    ).toBe(true);
    expect(
      explainedByOrphans(drift('redis_hold_records', 'p:{a:acct_1}:h:hold_z', undefined, '384'), orphans),
    ).toBe(false);
  });

  it('allows a counter of a key with orphans tight by any amount, never a loose one', () => {
    // Expected counts the orphans' reservation (1,000 settled + 384).
    expect(
      explainedByOrphans(drift('redis_counters', 'p:{a:acct_1}:d:ck_1:20261204', '1384', '1385'), orphans),
    ).toBe(true);
    expect(
      explainedByOrphans(drift('redis_counters', 'p:{a:acct_1}:m:ck_1:202612', '1384', '1720'), orphans),
    ).toBe(true);
    expect(
      explainedByOrphans(drift('redis_counters', 'p:{a:acct_1}:m:ck_1:202612', '1384', '1383'), orphans),
    ).toBe(false);
    expect(
      explainedByOrphans(drift('redis_counters', 'p:{a:acct_1}:d:ck_3:20261204', '1000', '1384'), orphans),
    ).toBe(false);
  });

  it('allows a balance of an account with orphans tight by any amount, never a loose one', () => {
    // Expected already leaves out what the orphans reserve.
    expect(explainedByOrphans(drift('redis_balance', 'p:{a:acct_1}:bal', '4516', '4515'), orphans)).toBe(
      true,
    );
    expect(explainedByOrphans(drift('redis_balance', 'p:{a:acct_1}:bal', '4516', '4000'), orphans)).toBe(
      true,
    );
    expect(explainedByOrphans(drift('redis_balance', 'p:{a:acct_1}:bal', '4516', '4600'), orphans)).toBe(
      false,
    );
    expect(explainedByOrphans(drift('redis_balance', 'p:{a:acct_2}:bal', '5000', '4000'), orphans)).toBe(
      false,
    );
  });
});
