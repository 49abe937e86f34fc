import { randomBytes } from 'node:crypto';
import type { Context } from '../context.js';
import { type AccountRow, findAccountIdByReferralCode, insertAccount } from '../db/queries/accounts.js';
import { createCustomerLedgerAccount } from '../db/queries/ledger-accounts.js';
import { uniqueViolation } from '../db/unique-violation.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { loadRedisBalance } from '../ledger/credit.js';
import { hashPassword } from '../password.js';
import { countRegistration } from './attempt-throttle.js';

/** Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or retyped survives. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 8 characters from 40 random bits: short enough to share, ~10^12 codes so collisions are rare. */
function newReferralCode(): string {
  const bytes = randomBytes(5);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 8; i++) out += ALPHABET[Number((bits >> BigInt(35 - 5 * i)) & 31n)];
  return out;
}

/** Codes are matched case-insensitively; people type them in lower case. */
function normaliseReferralCode(code: string): string {
  return code.trim().toUpperCase();
}

export interface RegisterInput {
  /** Already normalised (trimmed, lower case). */
  email: string;
  password: string;
  referralCode?: string | undefined;
  /** The client address: registrations are throttled per IP (countRegistration). */
  ip: string;
}

const REFERRAL_CODE_ATTEMPTS = 5;

/**
 * Create an account and its customer ledger account in one transaction, so there is never an
 * account without a balance. A taken email is a conflict; an unknown referral code is a 400; past
 * REGISTER_MAX_PER_IP from one address in the window, a 429.
 */
export async function registerAccount(ctx: Context, input: RegisterInput): Promise<AccountRow> {
  await countRegistration(ctx, input.ip);
  let referredBy: string | null = null;
  if (input.referralCode !== undefined) {
    referredBy = await findAccountIdByReferralCode(ctx.sql, normaliseReferralCode(input.referralCode));
    if (!referredBy) throw ApiError.invalid('referral_code', 'Unknown referral code');
  }
  const passwordHash = await hashPassword(input.password);

  const account = await insertWithFreshCode(ctx, input.email, passwordHash, referredBy);
  await publishEmptyBalance(ctx, account.id);
  return account;
}

/**
 * Put the new account's balance (0) in Redis, so the top-ups that follow are added to it there
 * (creditRedisBalance adds only to a balance Redis has) and its first request finds it. Without
 * it, that request's load takes Redis for having lost the account's data and waits
 * RECONCILE_INFLIGHT_MS for holds in flight (loadAdmissionState), which a new account cannot have:
 * it has no keys yet. Best-effort: a Redis outage must not stop a sign-up, and the first request
 * then loads the balance from Postgres as before.
 */
async function publishEmptyBalance(ctx: Context, accountId: string): Promise<void> {
  try {
    // Its epoch does not exist until a credit finds no balance: one that came first (a top-up
    // right after the sign-up) is in Postgres, and this write of 0 is refused so the first request
    // loads it.
    await loadRedisBalance(ctx, accountId, 0n, { creditIds: [], epoch: '' });
  } catch (err) {
    ctx.logger.warn({ err, accountId }, 'new account balance not published to Redis; loaded on first use');
  }
}

async function insertWithFreshCode(
  ctx: Context,
  email: string,
  passwordHash: string,
  referredBy: string | null,
): Promise<AccountRow> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.sql.begin(async (tx) => {
        const account = await insertAccount(tx, {
          id: newId('acct'),
          email,
          passwordHash,
          referralCode: newReferralCode(),
          referredBy,
          createdAt: ctx.clock.now(),
        });
        await createCustomerLedgerAccount(tx, account.id);
        return account;
      });
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint === 'accounts_email_key')
        throw new ApiError('conflict', 'An account with this email already exists', { param: 'email' });
      // A referral code collision is a 1-in-10^12 event: draw another one.
      if (constraint === 'accounts_referral_code_key' && attempt < REFERRAL_CODE_ATTEMPTS) continue;
      throw err;
    }
  }
}
