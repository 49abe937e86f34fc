import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { API_JSON_BODY_LIMIT, JSON_BODY_LIMIT } from './middleware/json-body.js';
import { errorResponse, errorResponses, json } from './schemas/common.js';

/**
 * Route files register each path here with the same zod schemas that validate the request, so
 * /openapi.json cannot drift from what the server accepts.
 */
export const registry = new OpenAPIRegistry();

registry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  description: 'A session JWT (owner), a management key `gm-…` or a child key `gc-…`.',
});

registry.registerPath({
  method: 'get',
  path: '/openapi.json',
  tags: ['operations'],
  summary: 'This document: OpenAPI 3.1, generated from the zod schemas that validate the requests',
  security: [],
  responses: { 200: json(z.object({ openapi: z.string() }).loose(), 'The OpenAPI document') },
});

let cached: ReturnType<OpenApiGeneratorV31['generateDocument']> | null = null;

/**
 * The error answers a route gives by its kind, for the entries that leave them out (an entry's own
 * says more): they come from the middleware and the error handler, not from the route. Input is
 * validated (400, a body also 413); a route not marked public (`security: []`) needs a token (the
 * admin token is 401 only); a path with an id is 404 for none of the caller's; /api and /v1 are
 * answered from Postgres and Redis (503 while one is out of reach).
 */
function standardErrors({ path, security, request }: RouteConfig): number[] {
  const stores = path.startsWith('/api/') || path.startsWith('/v1/');
  const statuses: number[] = [];
  if (request?.body || request?.query || request?.params || request?.headers) statuses.push(400);
  if (path.startsWith('/api/admin/')) statuses.push(401);
  else if (stores && !security) statuses.push(401, 403);
  if (path.includes('{')) statuses.push(404);
  if (request?.body) statuses.push(413);
  if (stores) statuses.push(503);
  return statuses;
}

/** A JSON body's limit on its path (json-body.ts): /v1 reads more than the owner's /api. */
function tooLarge(path: string) {
  const limit = path.startsWith('/v1/')
    ? `${JSON_BODY_LIMIT / 1024 / 1024} MiB`
    : `${API_JSON_BODY_LIMIT / 1024} KiB`;
  return errorResponse(`payload_too_large: the body is over its limit (${limit} of JSON)`);
}

const header = (description: string) => ({ description, schema: { type: 'string' as const } });
type Headers = Record<string, ReturnType<typeof header>>;
/** Every answer's (request-id.ts). */
const REQUEST_ID = {
  'x-request-id': header('This request’s id (the one sent, or a new one): quote it when asking about it'),
};
/** API.md: every /v1 answer to a key with an RPM limit, as OpenAI names them (refusals.ts). */
const RATE_LIMIT = {
  'x-ratelimit-limit-requests': header('The key’s requests-per-minute limit; absent where it has none'),
  'x-ratelimit-remaining-requests': header('Requests left in the rolling minute'),
  'x-ratelimit-reset-requests': header('When the next slot frees, e.g. `12s` (`0s`: nothing to wait for)'),
};
const RETRY_AFTER = { 'retry-after': header('Seconds to wait before trying again') };
/** The RPM refusal's exact wait, which the openai SDKs read before Retry-After. */
const RETRY_AFTER_MS = { 'retry-after-ms': header('Milliseconds to wait before trying again') };

/**
 * The headers every answer of a kind carries (an entry's own come last): the request id; on /v1,
 * the key's RPM state (not on a 401/403, where no key is known); on a 429, Retry-After (and on
 * /v1, retry-after-ms).
 */
function standardHeaders(path: string, status: string): Headers {
  return {
    ...REQUEST_ID,
    ...(path.startsWith('/v1/') && status !== '401' && status !== '403' ? RATE_LIMIT : {}),
    ...(status === '429' ? RETRY_AFTER : {}),
    ...(status === '429' && path.startsWith('/v1/') ? RETRY_AFTER_MS : {}),
  };
}

/** Each entry with the error answers and the headers its kind has, where it leaves them out. */
function withStandardAnswers(): void {
  for (const d of registry.definitions) {
    if (d.type !== 'route') continue;
    const { path, responses } = d.route;
    const missing = standardErrors(d.route).filter((s) => !(s in responses));
    Object.assign(responses, errorResponses(...missing));
    if (missing.includes(413)) responses[413] = tooLarge(path);
    for (const [status, response] of Object.entries(responses)) {
      if ('$ref' in response) continue;
      const own = (response.headers ?? {}) as Headers;
      responses[status] = { ...response, headers: { ...standardHeaders(path, status), ...own } };
    }
  }
}

/** GET /openapi.json, titled with the brand its clients know (white-label: BRAND_NAME). */
export function serveOpenApi(brand: string): RequestHandler {
  return (_req, res) => {
    if (!cached) withStandardAnswers();
    cached ??= new OpenApiGeneratorV31(registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: {
        title: 'API',
        version: '1.0.0',
        description:
          'Accounts, management and child keys, and OpenAI-compatible inference. Money is nGNK as strings.',
      },
      security: [{ bearer: [] }],
    });
    res.json({ ...cached, info: { ...cached.info, title: `${brand} API` } });
  };
}
