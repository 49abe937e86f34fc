import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { RequestHandler } from 'express';

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

let cached: unknown = null;

export const serveOpenApi: RequestHandler = (_req, res) => {
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
