import type { RequestHandler } from 'express';
import type { Context } from '../../shared/context.js';
import type { Upstream } from '../../shared/upstream.js';

/** GET /v1/models: the public model ids with what a token costs the caller, in nGNK. */
export function listModels(ctx: Context, upstream: Upstream): RequestHandler {
  return (_req, res) => {
    res.json({
      object: 'list',
      data: upstream.models.list().map((m) => ({
        id: m.id,
        object: 'model',
        created: 0,
        owned_by: ctx.config.BRAND_NAME,
        pricing: {
          prompt_ngonka_per_token: m.pricePerToken.toString(),
          completion_ngonka_per_token: m.pricePerToken.toString(),
        },
      })),
    });
  };
}
