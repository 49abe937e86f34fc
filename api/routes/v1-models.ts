import type { RequestHandler } from 'express';
import type { Context } from '../../shared/context.js';
import { ApiError } from '../../shared/errors.js';
import { noCapacity } from '../../shared/inference/upstream-errors.js';
import type { ServedModel } from '../../shared/models.js';
import type { Upstream } from '../../shared/upstream.js';

/**
 * An OpenAI model object with what a token costs the caller, in nGNK: the per-token figure rounded
 * up, and the exact rate per million tokens a request is billed at,
 * ceil((prompt_tokens + completion_tokens) × rate / 1,000,000).
 */
function modelObject(ctx: Context, m: ServedModel) {
  return {
    id: m.id,
    object: 'model',
    created: 0,
    owned_by: ctx.config.BRAND_NAME,
    pricing: {
      prompt_ngonka_per_token: m.pricePerToken.toString(),
      completion_ngonka_per_token: m.pricePerToken.toString(),
      prompt_ngonka_per_million_tokens: m.pricePerMillionTokens.toString(),
      completion_ngonka_per_million_tokens: m.pricePerMillionTokens.toString(),
    },
  };
}

/** GET /v1/models: the public model ids with their prices. */
export function listModels(ctx: Context, upstream: Upstream): RequestHandler {
  return (_req, res) => {
    res.json({ object: 'list', data: upstream.models.list().map((m) => modelObject(ctx, m)) });
  };
}

/** GET /v1/models/{id} (OpenAI's models.retrieve); ids may hold a slash (`Qwen/QwQ-32B`). */
export function retrieveModel(ctx: Context, upstream: Upstream): RequestHandler {
  return (req, res) => {
    const id = ([] as string[]).concat(req.params.id ?? []).join('/');
    const m = upstream.models.resolve(id);
    if (!m && upstream.models.unpriced(id)) throw noCapacity(id);
    if (!m) throw new ApiError('not_found', `The model '${id}' does not exist`, { code: 'model_not_found' });
    res.json(modelObject(ctx, m));
  };
}
