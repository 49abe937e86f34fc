import { Router } from 'express';
import type { Context } from '../../shared/context.js';
import {
  type AttemptLogRow,
  type DeliveryPage,
  findDeliveryLog,
  listDeliveryAttempts,
  listEndpointDeliveries,
  listJobUrlDeliveries,
} from '../../shared/db/queries/webhook-delivery-log.js';
import {
  findWebhookEndpoint,
  insertWebhookEndpointWithin,
  listWebhookEndpoints,
  rotateWebhookEndpointSecret,
  type SecretRow,
  type WebhookEndpointRow,
} from '../../shared/db/queries/webhooks.js';
import { ApiError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { parse } from '../../shared/validate.js';
import { newWebhookSecret, normalizeSubscriptions } from '../../shared/webhooks/events.js';
import {
  defaultWebhookSecret,
  graceEnd,
  graceRunning,
  previousSecretUntil,
  rotateDefaultWebhookSecret,
} from '../../shared/webhooks/secrets.js';
import { changeEndpoint, deleteEndpoint } from '../../shared/webhooks/stop-endpoint.js';
import { assertWebhookUrl } from '../../shared/webhooks/url.js';
import { listPage, refuseHiddenCursor } from '../list-page.js';
import { requireOwner } from '../middleware/auth.js';
import {
  createWebhookBody,
  deliveriesQuery,
  deliveryJson,
  rotateSecretBody,
  updateWebhookBody,
  webhookJson,
  webhookParams,
} from '../schemas/webhooks.js';
import './webhooks.openapi.js';

/** Webhook endpoints of the owner's account (session JWT only) and their delivery log. */
export function webhooksRouter(ctx: Context): Router {
  const r = Router();
  r.use(requireOwner(ctx));

  const load = async (accountId: string, id: string): Promise<WebhookEndpointRow> => {
    const e = await findWebhookEndpoint(ctx.sql, accountId, id);
    if (!e) throw ApiError.notFound('Webhook');
    return e;
  };

  r.post('/', async (req, res) => {
    const body = parse(createWebhookBody, req.body);
    await assertWebhookUrl(body.url, {
      allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
      lookup: ctx.lookupHost,
    });
    const secret = newWebhookSecret();
    const endpoint = {
      id: newId('whe'),
      accountId: res.locals.accountId,
      url: body.url,
      events: normalizeSubscriptions(body.events),
      secret,
      createdAt: ctx.clock.now(),
    };
    // Capped because every event fans out to every endpoint: one account with hundreds of them
    // (one had 300, all to one URL) turns each event into hundreds of deliveries.
    const max = ctx.config.WEBHOOK_MAX_ENDPOINTS;
    const row = await ctx.sql.begin((tx) => insertWebhookEndpointWithin(tx, endpoint, max));
    if (!row)
      throw new ApiError(
        'invalid_request_error',
        `An account may have at most ${max} webhook endpoints; delete one before adding another`,
        { param: null },
      );
    res.status(201).json({ ...webhookJson(row, ctx.clock.now()), secret });
  });

  r.get('/', async (_req, res) => {
    const rows = await listWebhookEndpoints(ctx.sql, res.locals.accountId);
    // What a new endpoint's url may use here (the dashboard's form says it).
    const schemes = ctx.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS ? ['https', 'http'] : ['https'];
    const now = ctx.clock.now();
    res.json({ data: rows.map((e) => webhookJson(e, now)), url_schemes: schemes });
  });

  // Before '/:id…' so the literal path is never read as an id.
  r.get('/default-secret', async (_req, res) => {
    res.json(secretJson(await defaultWebhookSecret(ctx, res.locals.accountId)));
  });

  r.post('/default-secret/rotate', async (req, res) => {
    const body = parse(rotateSecretBody, req.body);
    const accountId = res.locals.accountId;
    const rotated = await rotateDefaultWebhookSecret(ctx, accountId, body.grace_period_seconds);
    if (!rotated) throw graceRunning((await defaultWebhookSecret(ctx, accountId)).previous_secret_expires_at);
    res.json(secretJson(rotated));
  });

  const secretJson = (s: SecretRow) => ({
    secret: s.secret,
    previous_secret_expires_at:
      previousSecretUntil(s.previous_secret_expires_at, ctx.clock.now())?.toISOString() ?? null,
  });

  // Deliveries to per-job `webhook_url`s belong to no endpoint: their log is the account's.
  r.get('/job-deliveries', async (req, res) => {
    const accountId: string = res.locals.accountId;
    res.json(
      await logPage(
        req.query,
        (page) => listJobUrlDeliveries(ctx.sql, accountId, page),
        (d) => d.account_id === accountId && d.endpoint_id === null,
        (d, attempts) => ({ ...deliveryJson(d, attempts), url: d.url, job_id: d.job_id }),
      ),
    );
  });

  // One endpoint, without its secret; a deleted one stays readable (its status says so).
  r.get('/:id', async (req, res) => {
    const { id } = parse(webhookParams, req.params);
    res.json(webhookJson(await load(res.locals.accountId, id), ctx.clock.now()));
  });

  // Idempotent: deleting a deleted endpoint answers with it unchanged. Its pending deliveries end with it.
  r.delete('/:id', async (req, res) => {
    const { id } = parse(webhookParams, req.params);
    const accountId = res.locals.accountId;
    const row = await deleteEndpoint(ctx.sql, accountId, id, ctx.clock.now());
    res.json(webhookJson(row ?? (await load(accountId, id)), ctx.clock.now()));
  });

  r.patch('/:id', async (req, res) => {
    const { id } = parse(webhookParams, req.params);
    const body = parse(updateWebhookBody, req.body);
    const accountId = res.locals.accountId;
    if (body.url !== undefined)
      await assertWebhookUrl(body.url, {
        allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
        lookup: ctx.lookupHost,
      });
    const events = body.events && normalizeSubscriptions(body.events);
    const at = ctx.clock.now();
    const row = await changeEndpoint(
      ctx.sql,
      accountId,
      id,
      { url: body.url, events, status: body.status },
      at,
    );
    res.json(webhookJson(row ?? (await refuseChange(accountId, id)), at));
  });

  // The new secret is shown here once, as at creation; the old one keeps signing for the grace.
  r.post('/:id/rotate-secret', async (req, res) => {
    const { id } = parse(webhookParams, req.params);
    const body = parse(rotateSecretBody, req.body);
    const accountId = res.locals.accountId;
    const secret = newWebhookSecret();
    const now = ctx.clock.now();
    const row = await rotateWebhookEndpointSecret(
      ctx.sql,
      accountId,
      id,
      secret,
      graceEnd(now, body.grace_period_seconds),
      now,
    );
    res.json({ ...webhookJson(row ?? (await refuseChange(accountId, id)), now), secret });
  });

  /**
   * Why an endpoint did not change: not this account's (404), deleted (409: it stays readable), or
   * (a rotation) an earlier rotation's grace still running (409).
   */
  async function refuseChange(accountId: string, id: string): Promise<never> {
    const e = await load(accountId, id);
    if (e.deleted_at)
      throw new ApiError('conflict', `Webhook ${id} is deleted; register a new endpoint instead`);
    throw graceRunning(e.previous_secret_expires_at);
  }

  r.get('/:id/deliveries', async (req, res) => {
    const { id } = parse(webhookParams, req.params);
    const endpoint = await load(res.locals.accountId, id);
    res.json(
      await logPage(
        req.query,
        (page) => listEndpointDeliveries(ctx.sql, endpoint.id, page),
        (d) => d.endpoint_id === endpoint.id,
        deliveryJson,
      ),
    );
  });

  /**
   * One page of a delivery log as an OpenAI list, paged with `after` (the last page's `last_id`).
   * One row past the page says whether another follows. An `after` that is not a delivery of this
   * log (`inLog`) lists nothing, which would read as the log's end: it is refused instead, a 400
   * naming it; only an empty page pays that look-up.
   */
  async function logPage<D extends { id: string }, J extends { id: string }>(
    query: unknown,
    list: (page: DeliveryPage) => Promise<D[]>,
    inLog: (d: { account_id: string; endpoint_id: string | null }) => boolean,
    toJson: (d: D, attempts: AttemptLogRow[]) => J,
  ) {
    const q = parse(deliveriesQuery, query);
    const rows = await list({ limit: q.limit + 1, afterId: q.after });
    if (rows.length === 0)
      await refuseHiddenCursor(
        q.after,
        (id) => findDeliveryLog(ctx.sql, id),
        inLog,
        'a delivery in this log',
      );
    return listPage(await withAttempts(rows.slice(0, q.limit), toJson), rows.length, q.limit);
  }

  /** Deliveries as the log shows them, each with every attempt it made. */
  async function withAttempts<D extends { id: string }, J>(
    deliveries: D[],
    toJson: (d: D, attempts: AttemptLogRow[]) => J,
  ): Promise<J[]> {
    const attempts = await listDeliveryAttempts(
      ctx.sql,
      deliveries.map((d) => d.id),
    );
    return deliveries.map((d) =>
      toJson(
        d,
        attempts.filter((a) => a.delivery_id === d.id),
      ),
    );
  }

  return r;
}
