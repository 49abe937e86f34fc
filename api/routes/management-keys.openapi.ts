import { registry } from '../openapi.js';
import { usageQuery, usageResponse } from '../schemas/accounts.js';
import { errorResponse, json } from '../schemas/common.js';
import {
  createdManagementKeyObject,
  createManagementKeyBody,
  managementKeyList,
  managementKeyObject,
  managementKeyParams,
  rotateManagementKeyBody,
  updateManagementKeyBody,
} from '../schemas/management-keys.js';

/** /openapi.json entries for management-keys.ts, built from the schemas that validate the requests. */
const tags = ['Management keys'];
const params = managementKeyParams;
registry.registerPath({
  method: 'post',
  path: '/api/management/keys',
  tags,
  summary: 'Create a management key (`gm-…`, shown once)',
  request: { body: { content: { 'application/json': { schema: createManagementKeyBody } } } },
  responses: { 201: json(createdManagementKeyObject, 'Created') },
});
registry.registerPath({
  method: 'get',
  path: '/api/management/keys',
  tags,
  summary: 'List management keys',
  responses: { 200: json(managementKeyList, 'The account’s management keys, newest first') },
});
registry.registerPath({
  method: 'get',
  path: '/api/management/keys/{id}',
  tags,
  summary: 'Get a management key',
  request: { params },
  responses: { 200: json(managementKeyObject, 'The key') },
});
registry.registerPath({
  method: 'patch',
  path: '/api/management/keys/{id}',
  tags,
  summary:
    'Rename, disable or re-enable a management key (disabled, its gm- key stops; its child keys go on serving: DELETE stops them)',
  description: 'Disabling stops only the `gm-` key itself; its child keys keep serving.',
  request: { params, body: { content: { 'application/json': { schema: updateManagementKeyBody } } } },
  responses: {
    200: json(managementKeyObject, 'The updated key'),
    409: errorResponse('The key is revoked'),
  },
});
registry.registerPath({
  method: 'delete',
  path: '/api/management/keys/{id}',
  tags,
  summary: 'Revoke a management key (final; all its child keys stop at once)',
  request: { params },
  responses: { 200: json(managementKeyObject, 'The revoked key') },
});
registry.registerPath({
  method: 'post',
  path: '/api/management/keys/{id}/rotate',
  tags,
  summary: 'Give a management key a new `gm-` secret (shown once); its child keys are untouched',
  description:
    'The old secret is refused at once (401 `key_revoked`), or works on for `grace_period_seconds` (until the ' +
    'key’s `previous_key_expires_at`) so your services can switch without downtime. For a leaked `gm-` key ' +
    'rotate with 0: revoking would delete its children.',
  request: { params, body: { content: { 'application/json': { schema: rotateManagementKeyBody } } } },
  responses: {
    200: json(createdManagementKeyObject, 'The key with its new secret'),
    409: errorResponse(
      'The key is revoked, or an earlier rotation’s old secret still works (until `previous_key_expires_at`): rotate again then, or now with `grace_period_seconds: 0`',
    ),
  },
});

registry.registerPath({
  method: 'get',
  path: '/api/management/keys/{id}/usage',
  tags,
  summary: 'What the key’s child keys spent, per UTC day, child key or model (owner JWT or that `gm-` key)',
  description:
    'GET /api/account/usage narrowed to this management key’s child keys, so a backend holding only its `gm-` ' +
    'key can bill its customers. `cost_ngonka` is what the gateway charged, each request rounded up on its own.',
  request: { params, query: usageQuery },
  responses: { 200: json(usageResponse, 'Settled usage, oldest group first') },
});
