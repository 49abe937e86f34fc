import type { Context } from '../context.js';
import { findAccountCredentials } from '../db/queries/accounts.js';
import { ApiError } from '../errors.js';
import { signSession } from '../jwt.js';
import { burnPasswordCheck, verifyPassword } from '../password.js';
import { clearLoginAttempts, countLoginAttempt } from './attempt-throttle.js';

export interface LoginInput {
  /** Already normalised (trimmed, lower case). */
  email: string;
  password: string;
  /** The client address, for throttling per email+IP. */
  ip: string;
}

/** One message for an unknown email and a wrong password, so the answer reveals neither. */
const badCredentials = () => new ApiError('authentication_error', 'Invalid email or password');

/** Check credentials under the login throttle and issue a session JWT. */
export async function login(ctx: Context, input: LoginInput): Promise<string> {
  await countLoginAttempt(ctx, input.email, input.ip);
  const account = await findAccountCredentials(ctx.sql, input.email);
  if (!account) {
    // Spend the time a real check takes, so response time does not reveal the email is unknown.
    await burnPasswordCheck(input.password);
    throw badCredentials();
  }
  if (!(await verifyPassword(input.password, account.password_hash))) throw badCredentials();
  await clearLoginAttempts(ctx, input.email, input.ip);
  return signSession(ctx.config.JWT_SECRET, account.id, ctx.config.JWT_TTL_SECONDS);
}
