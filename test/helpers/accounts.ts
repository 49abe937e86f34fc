import { randomBytes } from 'node:crypto';
import type { Context } from '../../shared/context.js';
import { newId } from '../../shared/ids.js';
import { signSession } from '../../shared/jwt.js';

export interface TestAccount {
  id: string;
  email: string;
  /** A session JWT for the account owner. */
  token: string;
}

/**
 * An account row plus its customer ledger account, and an owner JWT, written straight to the
 * database so key tests do not depend on the auth routes.
 */
export async function createTestAccount(ctx: Context, email?: string): Promise<TestAccount> {
  const id = newId('acct');
  const addr = email ?? `${randomBytes(6).toString('hex')}@test.example`;
  await ctx.sql.begin(async (tx) => {
    await tx`insert into accounts (id, email, password_hash, referral_code)
      values (${id}, ${addr}, 'not-a-real-hash', ${randomBytes(8).toString('hex')})`;
    await tx`insert into ledger_accounts (id, kind) values (${id}, 'customer')`;
  });
  return { id, email: addr, token: await signSession(ctx.config.JWT_SECRET, id, 3600) };
}
