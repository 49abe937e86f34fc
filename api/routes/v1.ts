import { Router } from 'express';
import type { Context } from '../../shared/context.js';
import { requireChildKey } from '../middleware/child-key.js';
import { v1BatchesRouter } from './v1-batches.js';
import { type ChatDeps, chatCompletions } from './v1-chat-completions.js';
import { v1FilesRouter } from './v1-files.js';
import './v1.openapi.js';
import { v1JobsRouter } from './v1-jobs.js';
import { listModels } from './v1-models.js';

/** The OpenAI-compatible surface, for child keys (`gc-…`) only. */
export function v1Router(ctx: Context, deps: ChatDeps): Router {
  const r = Router();
  r.use(requireChildKey(ctx));
  r.get('/models', listModels(ctx, deps.upstream));
  r.post('/chat/completions', chatCompletions(ctx, deps));
  r.use('/jobs', v1JobsRouter(ctx, deps));
  r.use('/files', v1FilesRouter(ctx));
  r.use('/batches', v1BatchesRouter(ctx, deps));
  return r;
}
