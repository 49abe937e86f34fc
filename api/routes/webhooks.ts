import { Router } from 'express';
import type { Context } from '../../shared/context.js';
import {
  listDeliveryAttempts,
  listEndpointDeliveries,
} from '../../shared/db/queries/webhook-delivery-log.js';
import {
  deleteWebhookEndpoint,
  findWebhookEndpoint,
  insertWebhookEndpoint,
  listWebhookEndpoints,
  type WebhookEndpointRow,
} from '../../shared/db/queries/webhooks.js';
import { ApiError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { newWebhookSecret, normalizeSubscriptions } from '../../shared/webhooks/events.js';
import { defaultWebhookSecret } from '../../shared/webhooks/secrets.js';
import { assertWebhookUrl } from '../../shared/webhooks/url.js';
import { requireOwner } from '../middleware/auth.js';
import { parse } from '../middleware/validate.js';
import {
  createWebhookBody,
  deliveriesQuery,
  deliveryJson,
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
    await assertWebhookUrl(body.url, ctx.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS);
    const secret = newWebhookSecret();
    const row = await insertWebhookEndpoint(ctx.sql, {
      id: newId('whe'),
      accountId: res.locals.accountId,
      url: body.url,
      events: normalizeSubscriptions(body.events),
      secret,
      createdAt: ctx.clock.now(),
    });
    res.status(201).json({ ...webhookJson(row), secret });
  });

  r.get('/', async (_req, res) => {
    const rows = await listWebhookEndpoints(ctx.sql, res.locals.accountId);
    res.json({ data: rows.map(webhookJson) });
  });

  // Before '/:id…' so the literal path is never read as an id.
  r.get('/default-secret', async (_req, res) => {
    const d = await defaultWebhookSecret(ctx, res.locals.accountId);
    res.json({ secret: d.secret, endpoint_id: d.endpointId });
  });

  // Idempotent: deleting a deleted endpoint answers with it unchanged. Its pending deliveries stop.
  r.delete('/:id', async (req, res) => {
    const { id } = parse(webhookParams, req.params);
    const accountId = res.locals.accountId;
    const row = await deleteWebhookEndpoint(ctx.sql, accountId, id, ctx.clock.now());
    res.json(webhookJson(row ?? (await load(accountId, id))));
  });

  r.get('/:id/deliveries', async (req, res) => {
    const { id } = parse(webhookParams, req.params);
    const { limit } = parse(deliveriesQuery, req.query);
    const endpoint = await load(res.locals.accountId, id);
    const deliveries = await listEndpointDeliveries(ctx.sql, endpoint.id, limit);
    const attempts = await listDeliveryAttempts(
      ctx.sql,
      deliveries.map((d) => d.id),
    );
    const attemptsOf = (id: string) => attempts.filter((a) => a.delivery_id === id);
    res.json({ data: deliveries.map((d) => deliveryJson(d, attemptsOf(d.id))) });
  });

  return r;
}
