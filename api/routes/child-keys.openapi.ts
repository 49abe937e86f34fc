import { registry } from '../openapi.js';
import {
  childKeyList,
  childKeyObject,
  childKeyParams,
  createChildKeyBody,
  createdChildKeyObject,
  listChildKeysQuery,
  rotateChildKeyBody,
  updateChildKeyBody,
} from '../schemas/child-keys.js';
import { errorResponse, json } from '../schemas/common.js';
import { managementKeyParams } from '../schemas/management-keys.js';

/** /openapi.json entries for child-keys.ts, built from the schemas that validate the requests. */
const tags = ['Child keys'];
const base = '/api/management/keys/{id}/children';
const description = 'Owner JWT, or the `gm-` key of management key `id` itself.';
const notFound = errorResponse('Management key or child key not found (or another account’s)');

registry.registerPath({
  method: 'post',
  path: base,
  tags,
  description,
  summary: 'Create a child key (`gc-…`, shown once)',
  request: {
    params: managementKeyParams,
    body: { content: { 'application/json': { schema: createChildKeyBody } } },
  },
  responses: {
    201: json(createdChildKeyObject, 'Created'),
    404: notFound,
    409: errorResponse('The management key is revoked'),
  },
});
registry.registerPath({
  method: 'get',
  path: base,
  tags,
  summary: 'List child keys with usage (deleted ones included, for audit)',
  description:
    `${description} Beyond API.md: \`?metadata.<key>=<value>\` (up to 5) lists only the keys whose metadata has ` +
    'that key with that value, compared as text (`?metadata.customer_id=c_42`).',
  request: { params: managementKeyParams, query: listChildKeysQuery },
  responses: { 200: json(childKeyList, 'Child keys, newest first'), 404: notFound },
});
registry.registerPath({
  method: 'get',
  path: `${base}/{childId}`,
  tags,
  description,
  summary: 'Get a child key with usage',
  request: { params: childKeyParams },
  responses: { 200: json(childKeyObject, 'The child key'), 404: notFound },
});
registry.registerPath({
  method: 'patch',
  path: `${base}/{childId}`,
  tags,
  description,
  summary: 'Change a child key; `null` clears a limit, the RPM limit, the expiry or the metadata',
  request: {
    params: childKeyParams,
    body: { content: { 'application/json': { schema: updateChildKeyBody } } },
  },
  responses: {
    200: json(childKeyObject, 'The updated child key'),
    404: notFound,
    409: errorResponse('The child key is deleted, its management key revoked, or it expired'),
  },
});
registry.registerPath({
  method: 'delete',
  path: `${base}/{childId}`,
  tags,
  description,
  summary: 'Delete a child key (soft: kept for audit with status "deleted"; stops at once)',
  request: { params: childKeyParams },
  responses: { 200: json(childKeyObject, 'The deleted child key'), 404: notFound },
});
registry.registerPath({
  method: 'post',
  path: `${base}/{childId}/rotate`,
  tags,
  description:
    `${description} The key keeps its id, limits, usage and metadata; the secret it had is refused ` +
    '(401 `key_revoked`) once its grace ends, at once by default.',
  summary: 'Give a child key a new secret (`gc-…`, shown once)',
  request: {
    params: childKeyParams,
    body: { content: { 'application/json': { schema: rotateChildKeyBody } } },
  },
  responses: {
    200: json(createdChildKeyObject, 'The child key with its new secret'),
    404: notFound,
    409: errorResponse(
      'The child key is deleted, its management key revoked, or an earlier rotation’s old secret still works ' +
        '(until `previous_key_expires_at`): rotate again then, or now with `grace_period_seconds: 0`',
    ),
  },
});
