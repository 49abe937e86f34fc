import type { Context } from '../context.js';
import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import type { RateLimitState } from './admit.js';
import { runWithKeyState } from './load-state.js';
import { refusalError } from './refusals.js';

/**
 * The key checks of admission without the admission, for the /v1 routes that take no hold (reads,
 * uploads, batch creation, cancels): a deleted, disabled or expired key, or one whose management key
 * was revoked, is refused with the same 401 as on inference, on its very next request. Returns the
 * key's RPM state for the headers (null: no limit); these requests do not count toward it.
 */
export async function checkKeyAccess(ctx: Context, key: ChildKeyIdentity): Promise<RateLimitState | null> {
  const now = ctx.clock.now();
  const keys = [
    ctx.keys.childKey(key.account_id, key.id),
    ctx.keys.managementKey(key.account_id, key.management_key_id),
    ctx.keys.rpm(key.account_id, key.id),
  ];
  const reply = await runWithKeyState(ctx, 'keyAccess', key, keys, [now.getTime(), key.secret ?? ''], now);
  if (reply[0] !== 'ok') throw refusalError(reply, now);
  const [, rpm, remaining, resetMs] = reply.map(Number) as [number, number, number, number];
  return rpm > 0 ? { limit: rpm, remaining, resetMs } : null;
}
