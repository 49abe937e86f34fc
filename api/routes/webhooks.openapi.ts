import { registry } from '../openapi.js';
import './webhook-events.openapi.js';
import { errorResponse, json } from '../schemas/common.js';
import {
  createdWebhookObject,
  createWebhookBody,
  defaultSecretObject,
  deliveriesQuery,
  deliveryList,
  jobUrlDeliveryList,
  rotateSecretBody,
  updateWebhookBody,
  webhookList,
  webhookObject,
  webhookParams,
} from '../schemas/webhooks.js';

/** /openapi.json entries for webhooks.ts, built from the schemas that validate the requests. */
const tags = ['Webhooks'];
const params = webhookParams;
registry.registerPath({
  method: 'post',
  path: '/api/webhooks',
  tags,
  summary: 'Register a webhook endpoint (its `whsec_…` secret is shown once)',
  description:
    'Deliveries follow Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The URL must be https and must not resolve to a private, loopback or link-local address (with WEBHOOK_ALLOW_PRIVATE_NETWORKS, http and such addresses are allowed too; GET /api/webhooks says which schemes in `url_schemes`).',
  request: { body: { content: { 'application/json': { schema: createWebhookBody } } } },
  responses: {
    201: json(createdWebhookObject, 'Created'),
    400: errorResponse('Invalid body, or the account already has WEBHOOK_MAX_ENDPOINTS (16) endpoints'),
  },
});
registry.registerPath({
  method: 'get',
  path: '/api/webhooks',
  tags,
  summary: 'List webhook endpoints (without secrets)',
  responses: { 200: json(webhookList, 'The account’s endpoints that are not deleted, newest first') },
});
registry.registerPath({
  method: 'get',
  path: '/api/webhooks/default-secret',
  tags,
  summary: 'The secret per-job `webhook_url` deliveries are signed with',
  description:
    'The account’s own secret (created on first use), whatever its endpoints: deleting or disabling one never changes what job hooks are signed with.',
  responses: { 200: json(defaultSecretObject, 'The default secret') },
});
registry.registerPath({
  method: 'get',
  path: '/api/webhooks/{id}',
  tags,
  summary: 'A webhook endpoint (without its secret; a deleted one too, with status deleted)',
  request: { params },
  responses: {
    200: json(webhookObject, 'The endpoint'),
    404: errorResponse('No such endpoint of this account'),
  },
});
registry.registerPath({
  method: 'delete',
  path: '/api/webhooks/{id}',
  tags,
  summary: 'Delete a webhook endpoint (its pending deliveries stop)',
  request: { params },
  responses: { 200: json(webhookObject, 'The deleted endpoint') },
});
registry.registerPath({
  method: 'get',
  path: '/api/webhooks/job-deliveries',
  tags,
  summary:
    'Delivery log of per-job `webhook_url`s (they belong to no endpoint), newest first, with every attempt; paged with `after`',
  request: { query: deliveriesQuery },
  responses: {
    200: json(jobUrlDeliveryList, 'Deliveries'),
    400: errorResponse('Invalid query, or an `after` that is no delivery of this log'),
  },
});
registry.registerPath({
  method: 'get',
  path: '/api/webhooks/{id}/deliveries',
  tags,
  summary: 'Delivery log of an endpoint, newest first, with every attempt; paged with `after`',
  request: { params, query: deliveriesQuery },
  responses: {
    200: json(deliveryList, 'Deliveries'),
    400: errorResponse('Invalid query, or an `after` that is no delivery of this log'),
  },
});
registry.registerPath({
  method: 'patch',
  path: '/api/webhooks/{id}',
  tags,
  summary: 'Change an endpoint’s url or events, or turn it off and on again',
  description:
    'A 410 from the receiver disables an endpoint; `{"status": "active"}` turns it back on, and it receives the events that happen from then on (deliveries that ended with it stay ended). `{"status": "disabled"}` stops it as a 410 does.',
  request: { params, body: { content: { 'application/json': { schema: updateWebhookBody } } } },
  responses: {
    200: json(webhookObject, 'The endpoint as changed'),
    400: errorResponse('Invalid body, or a url that is not allowed'),
    404: errorResponse('No such endpoint on this account'),
    409: errorResponse('The endpoint is deleted'),
  },
});
registry.registerPath({
  method: 'post',
  path: '/api/webhooks/{id}/rotate-secret',
  tags,
  summary: 'Give an endpoint a new `whsec_…` secret (shown once); the old one signs too for a grace period',
  request: { params, body: { content: { 'application/json': { schema: rotateSecretBody } } } },
  responses: {
    200: json(createdWebhookObject, 'The endpoint with its new secret'),
    404: errorResponse('No such endpoint on this account'),
    409: errorResponse(
      'The endpoint is deleted, or an earlier rotation’s old secret still signs (until `previous_secret_expires_at`): rotate again then, or now with `grace_period_seconds: 0`',
    ),
  },
});
registry.registerPath({
  method: 'post',
  path: '/api/webhooks/default-secret/rotate',
  tags,
  summary:
    'A new default secret for per-job `webhook_url` deliveries; the old one signs too for a grace period',
  request: { body: { content: { 'application/json': { schema: rotateSecretBody } } } },
  responses: {
    200: json(
      defaultSecretObject,
      'The new default secret (GET /api/webhooks/default-secret shows it again)',
    ),
    409: errorResponse(
      'An earlier rotation’s old secret still signs (until `previous_secret_expires_at`): rotate again then, or now with `grace_period_seconds: 0`',
    ),
  },
});
