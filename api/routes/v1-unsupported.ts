import type { RequestHandler } from 'express';
import { ApiError } from '../../shared/errors.js';

/**
 * OpenAI endpoints this gateway does not serve, each named with what to use instead. A bare "No
 * route" reads as a wrong model to some clients (LangChain labels every 404 MODEL_NOT_FOUND), and
 * the Vercel AI SDK's default model (`openai(id)`) calls /v1/responses: the builder is told the one
 * call to change.
 */
const UNSUPPORTED: readonly { path: string; instead: string }[] = [
  {
    path: '/responses',
    instead:
      'use the Chat Completions API, POST /v1/chat/completions (Vercel AI SDK: openai.chat(model); LangChain: useResponsesApi: false)',
  },
  { path: '/completions', instead: 'use POST /v1/chat/completions with the prompt as a user message' },
  { path: '/embeddings', instead: 'no embedding model is served here' },
  { path: '/moderations', instead: 'no moderation model is served here' },
  { path: '/audio', instead: 'no audio model is served here' },
  { path: '/images', instead: 'no image model is served here' },
];

export const unsupportedEndpoint: RequestHandler = (req, _res, next) => {
  const hit = UNSUPPORTED.find(({ path }) => req.path === path || req.path.startsWith(`${path}/`));
  if (!hit) return next();
  next(
    new ApiError('not_found', `This gateway does not serve /v1${hit.path}: ${hit.instead}`, {
      code: 'unsupported_endpoint',
    }),
  );
};
