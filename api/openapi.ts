import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { errorResponses } from './schemas/accounts.js';

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
  responses: {
    200: {
      description: 'The OpenAPI document',
      content: { 'application/json': { schema: z.object({ openapi: z.string() }).loose() } },
    },
  },
});

let cached: unknown = null;

/**
 * The auth answers every route of a kind gives, added where a route's own entry leaves them out:
 * they come from the auth middleware, not from the route.
 */
function authResponses(path: string): number[] {
  if (path.startsWith('/api/auth/')) return [];
  if (path.startsWith('/api/admin/')) return [401];
  if (path.startsWith('/api/') || path.startsWith('/v1/')) return [401, 403, 503];
  return [];
}

function withAuthResponses(): void {
  for (const d of registry.definitions) {
    if (d.type !== 'route') continue;
    const missing = authResponses(d.route.path).filter((s) => !(s in d.route.responses));
    Object.assign(d.route.responses, errorResponses(...missing));
  }
}

export const serveOpenApi: RequestHandler = (_req, res) => {
  if (!cached) withAuthResponses();
  cached ??= new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Gonka Gateway',
      version: '1.0.0',
      description:
        'Accounts, management and child keys, and OpenAI-compatible inference. Money is nGNK as strings.',
    },
    security: [{ bearer: [] }],
  });
  res.json(cached);
};
