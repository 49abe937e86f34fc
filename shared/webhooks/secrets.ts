import type { Context } from '../context.js';
import {
  ensureAccountWebhookSecret,
  rotateAccountWebhookSecret,
  type SecretRow,
} from '../db/queries/webhooks.js';
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

/** A new default secret; the old one signs too for `graceSeconds`. */
export async function rotateDefaultWebhookSecret(
  ctx: Context,
  accountId: string,
  graceSeconds: number,
): Promise<SecretRow> {
  await defaultWebhookSecret(ctx, accountId);
  return rotateAccountWebhookSecret(ctx.sql, accountId, newWebhookSecret(), graceEnd(ctx, graceSeconds));
}

export function graceEnd(ctx: Context, graceSeconds: number): Date {
  return new Date(ctx.clock.now().getTime() + graceSeconds * 1000);
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
