import { Router } from 'express';
import type { Context } from '../../shared/context.js';
import { requireActiveChildKey, requireChildKey } from '../middleware/child-key.js';
import { v1Body } from '../middleware/json-body.js';
import { requestContext } from '../request-context.js';
import { v1BatchesRouter } from './v1-batches.js';
import { type ChatDeps, chatCompletions } from './v1-chat-completions.js';
import { v1FilesRouter } from './v1-files.js';
import './v1.openapi.js';
import { serveJobSubmission, v1JobsRouter } from './v1-jobs.js';
import { listModels, retrieveModel } from './v1-models.js';
import { unsupportedEndpoint } from './v1-unsupported.js';

/** The OpenAI-compatible surface, for child keys (`gc-…`) only. */
export function v1Router(ctx: Context, deps: ChatDeps): Router {
  const r = Router();
  r.use(requireChildKey(ctx));
  r.use(v1Body(ctx));
  // The admitting routes: admission checks the key (and its RPM) in the same step as the hold.
  r.post('/chat/completions', chatCompletions(ctx, deps));
  r.post('/jobs', (req, res) =>
    serveJobSubmission(requestContext(ctx, res), deps, res.locals.childKey, req.body, res, req.headers),
  );
  // Everything else takes no hold, but answers only an active key, with its RPM headers.
  r.use(requireActiveChildKey(ctx));
  r.get('/models', listModels(ctx, deps.upstream));
  r.get('/models/*id', retrieveModel(ctx, deps.upstream));
  r.use('/jobs', v1JobsRouter(ctx, deps));
  r.use('/files', v1FilesRouter(ctx));
  r.use('/batches', v1BatchesRouter(ctx, deps));
  r.use(unsupportedEndpoint); // no route of its own: a 404 that says more, for the paths it knows
  return r;
}
