import { performance } from 'node:perf_hooks';
import { Webhook } from 'standardwebhooks';
import type { Context } from '../context.js';
import {
  claimDeliveryAttempt,
  type DeliveryToSendRow,
  findDeliveryToSend,
  recordDeliveryAttempt,
  type WebhookDeliveryStatus,
} from '../db/queries/webhook-deliveries.js';
import { observeWebhookAttempt } from '../metrics/registry.js';
import type { AccountSlots } from './account-slots.js';
import { defaultWebhookSecret, signingSecrets } from './secrets.js';
import { postPinned } from './send.js';
import { RefusedAddressError, resolveVetted } from './ssrf.js';
import { closeStoppedDelivery, disableEndpoint } from './stop-endpoint.js';

/**
 * Delays before attempts 2, 3, …: Standard Webhooks' recommended shape, spanning 31.5 h so a
 * receiver that is down for a day still gets its messages. After the last, the delivery fails.
 */
export const WEBHOOK_RETRY_SCHEDULE_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  14 * 3_600_000,
];

export const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * How much longer than its timeout an attempt may stay in flight before it counts as lost (its
 * worker died) and the next may be claimed: time to record the outcome, with room to spare.
 */
const ATTEMPT_LEASE_MARGIN_MS = 60_000;

export interface DeliveryPolicy {
  schedule: readonly number[];
  timeoutMs: number;
  /** Each account's share of the attempts in flight in this process; past it, an attempt waits. */
  slots?: AccountSlots;
}

export type AttemptOutcome =
  | { kind: 'skipped'; reason: string }
  | { kind: 'early'; dueAt: Date }
  | { kind: 'done'; status: Exclude<WebhookDeliveryStatus, 'pending'>; attempt: number }
  | { kind: 'retry'; attempt: number; delayMs: number };

/** A failure no retry can fix (a refused address, a URL we will not call). */
class PermanentFailure extends Error {}

interface SendResult {
  statusCode: number | null;
  error: string | null;
  permanent: boolean;
  durationMs: number;
}

/**
 * Make the next attempt of one delivery and record it: 2xx succeeds; 410 Gone disables the
 * endpoint (the receiver asked us to stop) and ends the delivery; a refused address fails it at
 * once; anything else is retried on the schedule until it runs out. Safe to call twice for one
 * delivery: only the caller that claims the attempt number sends, and only once it is due (a call
 * before then is `early` and changes nothing).
 */
export async function attemptDelivery(
  ctx: Context,
  deliveryId: string,
  policy: DeliveryPolicy,
): Promise<AttemptOutcome> {
  const d = await findDeliveryToSend(ctx.sql, deliveryId);
  if (!d) return { kind: 'skipped', reason: 'unknown delivery' };
  if (d.status !== 'pending') return { kind: 'skipped', reason: `already ${d.status}` };
  if (d.endpoint_id && (d.endpoint_deleted || d.endpoint_status === 'disabled')) {
    const why = d.endpoint_deleted ? 'deleted' : 'disabled';
    return { kind: 'skipped', reason: await closeStoppedDelivery(ctx.sql, d.id, why, ctx.clock.now()) };
  }
  const now = ctx.clock.now();
  if (d.next_attempt_at && d.next_attempt_at > now) return { kind: 'early', dueAt: d.next_attempt_at };
  // One account's silent receivers must not take every slot: past its share it waits its turn.
  // Paced by real time (how long receivers take), whatever clock the rest reads.
  const { slots } = policy;
  const startedMs = performance.now();
  const shares = slots ? sharesOf(d, slots.perAccount) : [];
  const taken: string[] = [];
  for (const { share, cap } of shares) {
    const waitMs = slots?.take(share, startedMs, cap) ?? null;
    if (waitMs !== null) {
      for (const t of taken) slots?.release(t, startedMs);
      return { kind: 'early', dueAt: new Date(now.getTime() + waitMs) };
    }
    taken.push(share);
  }
  try {
    return await attemptClaimed(ctx, d, policy, now);
  } finally {
    const endedMs = performance.now();
    for (const t of taken) slots?.give(t, endedMs - startedMs, endedMs);
  }
}

/**
 * The shares of the workers' slots an attempt takes one of: the account's own endpoints share one;
 * per-job URLs, which any holder of its child keys sets, share another, each host of them at most
 * half of it. So one end customer's silent URL delays neither the builder's endpoints nor every
 * other customer's job events (jobs20: 24 jobs to a URL that never answered held an account's
 * every slot, and its own endpoint's next event waited 18 s).
 */
function sharesOf(d: DeliveryToSendRow, perAccount: number): { share: string; cap: number }[] {
  if (d.endpoint_id) return [{ share: `${d.account_id}:endpoints`, cap: perAccount }];
  let host = '';
  try {
    host = new URL(d.url).host;
  } catch {
    // Not a URL: its attempt fails at once, in the jobs' common share.
  }
  return [
    { share: `${d.account_id}:urls`, cap: perAccount },
    { share: `${d.account_id}:url:${host}`, cap: Math.max(1, Math.floor(perAccount / 2)) },
  ];
}

/** The attempt itself, once it is due and its account has a slot: claim, send, record. */
async function attemptClaimed(
  ctx: Context,
  d: DeliveryToSendRow,
  policy: DeliveryPolicy,
  now: Date,
): Promise<AttemptOutcome> {
  const leaseUntil = new Date(now.getTime() + policy.timeoutMs + ATTEMPT_LEASE_MARGIN_MS);
  const attempt = await claimDeliveryAttempt(ctx.sql, d.id, d.attempts, now, leaseUntil);
  if (attempt === null) return { kind: 'skipped', reason: 'another worker took this attempt' };

  const sent = await send(ctx, d, await secretsFor(ctx, d), policy.timeoutMs);
  const at = ctx.clock.now();
  const { status, delayMs } = nextState(sent, policy.schedule[attempt - 1]);
  const gone = status === 'disabled';

  await ctx.sql.begin(async (tx) => {
    await recordDeliveryAttempt(tx, {
      deliveryId: d.id,
      attempt,
      statusCode: sent.statusCode,
      error: sent.error,
      durationMs: sent.durationMs,
      at,
      status,
      nextAttemptAt: delayMs === undefined ? null : new Date(at.getTime() + delayMs),
    });
    if (gone && d.endpoint_id)
      await disableEndpoint(tx, d.endpoint_id, `410 Gone from ${d.url} at ${at.toISOString()}`, at);
  });
  observeWebhookAttempt(status === 'pending' ? 'retry' : status, sent.statusCode);
  if (status === 'pending') return { kind: 'retry', attempt, delayMs: delayMs! };
  return { kind: 'done', status, attempt };
}

/** 2xx succeeded; 410 disabled; permanent or out of schedule failed; else pending after `delay`. */
function nextState(
  sent: SendResult,
  delay: number | undefined,
): { status: WebhookDeliveryStatus; delayMs: number | undefined } {
  const code = sent.statusCode;
  if (code !== null && code >= 200 && code < 300) return { status: 'succeeded', delayMs: undefined };
  if (code === 410) return { status: 'disabled', delayMs: undefined };
  if (sent.permanent || delay === undefined) return { status: 'failed', delayMs: undefined };
  return { status: 'pending', delayMs: delay };
}

/** An endpoint's own secrets; a per-job URL's are the account's default. */
async function secretsFor(ctx: Context, d: DeliveryToSendRow): Promise<string[]> {
  const now = ctx.clock.now();
  if (d.endpoint_secret !== null)
    return signingSecrets(
      d.endpoint_secret,
      d.endpoint_previous_secret,
      d.endpoint_previous_secret_expires_at,
      now,
    );
  const s = await defaultWebhookSecret(ctx, d.account_id);
  return signingSecrets(s.secret, s.previous_secret, s.previous_secret_expires_at, now);
}

async function send(
  ctx: Context,
  d: DeliveryToSendRow,
  secrets: string[],
  timeoutMs: number,
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const allowPrivate = ctx.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS;
  try {
    const url = new URL(d.url);
    // Per-job URLs never went through registration, so the protocol rule is enforced here too.
    if (!(url.protocol === 'https:' || (allowPrivate && url.protocol === 'http:')))
      throw new PermanentFailure(`${url.protocol} URLs are not delivered to`);
    // The lookup spends from the attempt's timeout too: a resolver that never answers is a timeout.
    const address = await resolveVetted(url.hostname, allowPrivate, { lookup: ctx.lookupHost, timeoutMs });
    const body = JSON.stringify(d.payload);
    const sentAt = ctx.clock.now();
    const statusCode = await postPinned({
      url,
      address,
      body,
      timeoutMs,
      startedAt: started,
      headers: {
        'content-type': 'application/json',
        // White-label: a child key's client may own this URL (a job's webhook_url).
        'user-agent': webhookUserAgent(ctx.config.BRAND_NAME),
        // The delivery id is the message id: stable across retries, so receivers can dedupe.
        'webhook-id': d.id,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': secrets.map((s) => new Webhook(s).sign(d.id, sentAt, body)).join(' '),
      },
    });
    const error = statusCode >= 300 && statusCode < 400 ? 'redirects are not followed' : null;
    return { statusCode, error, permanent: false, durationMs: elapsed() };
  } catch (err) {
    const permanent = err instanceof RefusedAddressError || err instanceof PermanentFailure;
    const message = err instanceof Error ? err.message : String(err);
    return { statusCode: null, error: message, permanent, durationMs: elapsed() };
  }
}

/**
 * `<brand>-Webhooks/1.0` as an HTTP product token: a header holds no character past U+00FF (Node
 * refuses the request, so a brand such as "Nova™" failed every delivery), nor spaces in a token.
 * Compatibility forms first ("™" → "TM"), then anything else out; "Gateway" if nothing is left.
 */
export function webhookUserAgent(brand: string): string {
  const token = brand.normalize('NFKD').replace(/[^!#$%&'*+.^_`|~0-9A-Za-z-]+/g, '');
  return `${token || 'Gateway'}-Webhooks/1.0`;
}
