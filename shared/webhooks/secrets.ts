import type { Context } from '../context.js';
import { ensureAccountWebhookSecret, findOldestActiveEndpointSecret } from '../db/queries/webhooks.js';
import { newWebhookSecret } from './events.js';

export interface DefaultSecret {
  secret: string;
  /** The endpoint whose secret it is; null when it is the account's own secret. */
  endpointId: string | null;
}

/**
 * The secret per-job `webhook_url` deliveries are signed with (API.md: "the account's default
 * webhook secret"): the oldest active endpoint's secret, so an owner with one endpoint verifies
 * everything with one secret; with no active endpoint, a per-account secret created on first
 * need. It is resolved on every attempt, the same way GET /api/webhooks/default-secret resolves
 * it, so what the owner reads there is what the next attempt is signed with.
 */
export async function defaultWebhookSecret(ctx: Context, accountId: string): Promise<DefaultSecret> {
  const endpoint = await findOldestActiveEndpointSecret(ctx.sql, accountId);
  if (endpoint) return { secret: endpoint.secret, endpointId: endpoint.endpoint_id };
  const secret = await ensureAccountWebhookSecret(ctx.sql, accountId, newWebhookSecret(), ctx.clock.now());
  return { secret, endpointId: null };
}
