import type { Context } from '../context.js';
import { ensureAccountWebhookSecret } from '../db/queries/webhooks.js';
import { newWebhookSecret } from './events.js';

/**
 * The secret per-job `webhook_url` deliveries are signed with (API.md: "the account's default
 * webhook secret"): the account's own, created on first need and never changed by what happens to
 * its endpoints. (It used to be the oldest active endpoint's secret, which moved to the next
 * endpoint when that one was deleted or disabled by a 410, so receivers verifying job hooks with it
 * started failing without a word; and an endpoint's secret is shown once, at its creation.)
 */
export async function defaultWebhookSecret(ctx: Context, accountId: string): Promise<string> {
  return ensureAccountWebhookSecret(ctx.sql, accountId, newWebhookSecret(), ctx.clock.now());
}
