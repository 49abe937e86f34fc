import type { Context } from '../context.js';
import {
  ensureAccountWebhookSecret,
  rotateAccountWebhookSecret,
  type SecretRow,
} from '../db/queries/webhooks.js';
import { ApiError } from '../errors.js';
import { newWebhookSecret } from './events.js';

/**
 * How long a secret a rotation replaced keeps signing beside the new one, unless the rotation says
 * (a day, as Svix does: time for a receiver to deploy the new secret). Zero ends it at once, for a
 * secret that leaked.
 */
export const ROTATION_GRACE_SECONDS = 86_400;
export const ROTATION_GRACE_SECONDS_MAX = 7 * 86_400;

/**
 * The secret per-job `webhook_url` deliveries are signed with (API.md: "the account's default
 * webhook secret"): the account's own, created on first need and never changed by what happens to
 * its endpoints. (It used to be the oldest active endpoint's secret, which moved to the next
 * endpoint when that one was deleted or disabled by a 410, so receivers verifying job hooks with it
 * started failing without a word; and an endpoint's secret is shown once, at its creation.) Only the
 * owner's rotation changes it.
 */
export async function defaultWebhookSecret(ctx: Context, accountId: string): Promise<SecretRow> {
  return ensureAccountWebhookSecret(ctx.sql, accountId, newWebhookSecret(), ctx.clock.now());
}

/**
 * A new default secret; the old one signs too for `graceSeconds`, unless this call made the old one
 * (nobody can hold it: no grace). Null while an earlier rotation's grace runs (see
 * rotateWebhookEndpointSecret).
 */
export async function rotateDefaultWebhookSecret(
  ctx: Context,
  accountId: string,
  graceSeconds: number,
): Promise<SecretRow | null> {
  const candidate = newWebhookSecret();
  const now = ctx.clock.now();
  const existing = await ensureAccountWebhookSecret(ctx.sql, accountId, candidate, now);
  const grace = existing.secret === candidate ? 0 : graceSeconds;
  return rotateAccountWebhookSecret(ctx.sql, accountId, newWebhookSecret(), graceEnd(now, grace), now);
}

/** The 409 of a rotation while the last one's grace runs. */
export function graceRunning(until: Date | null): ApiError {
  return new ApiError(
    'conflict',
    `The last rotation's old secret signs until ${until?.toISOString() ?? 'its grace ends'}; rotate again then, ` +
      'or now with grace_period_seconds 0, which ends every older secret at once',
  );
}

/** When a grace of `graceSeconds` from `now` ends (`now` itself for none). */
export function graceEnd(now: Date, graceSeconds: number): Date {
  return new Date(now.getTime() + graceSeconds * 1000);
}

/**
 * What a delivery is signed with at `now`: the current secret, and while its grace lasts the one
 * the last rotation replaced. Standard Webhooks sends one `v1,…` signature per secret, so a
 * receiver holding either verifies.
 */
export function signingSecrets(
  current: string,
  previous: string | null,
  previousUntil: Date | null,
  now: Date,
): string[] {
  return previous !== null && previousUntil !== null && previousUntil > now ? [current, previous] : [current];
}

/** `previous_secret_expires_at` as the API shows it: null once the old secret stopped signing. */
export function previousSecretUntil(until: Date | null, now: Date): Date | null {
  return until !== null && until > now ? until : null;
}
