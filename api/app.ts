import express, { type Express } from 'express';
import type { Context } from '../shared/context.js';
import type { Queues } from '../shared/queues.js';
import type { Upstream } from '../shared/upstream.js';
import './locals.js';
import { accessLog } from './middleware/access-log.js';
import { corsV1 } from './middleware/cors-v1.js';
import { errorHandler, notFound } from './middleware/error-handler.js';
import { bodyUnlessV1 } from './middleware/json-body.js';
import { apiResponseHeaders } from './middleware/no-store.js';
import { requestId } from './middleware/request-id.js';
import { serveOpenApi } from './openapi.js';
import { accountRouter } from './routes/account.js';
import { ADMIN_QUEUES_PATH, adminQueuesLanding, adminQueuesRouter } from './routes/admin-queues.js';
import { adminTopupsRouter } from './routes/admin-topups.js';
import { authRouter } from './routes/auth.js';
import { CHILD_KEYS_MOUNT, childKeysRouter } from './routes/child-keys.js';
import { dashboardRouter, toDashboard } from './routes/dashboard.js';
import { healthRouter } from './routes/health.js';
import { managementKeysRouter } from './routes/management-keys.js';
import { metricsRouter } from './routes/metrics.js';
import { ownerBatchesRouter } from './routes/owner-batches.js';
import { ownerFilesRouter } from './routes/owner-files.js';
import { ownerJobsRouter } from './routes/owner-jobs.js';
import { v1Router } from './routes/v1.js';
import { webhooksRouter } from './routes/webhooks.js';

/** What the api needs beyond the context to serve /v1: the Gonka upstream and the queues. */
export interface AppDeps {
  upstream: Upstream;
  queues: Queues;
}

/** The Express app of the api role. Everything it needs comes from the context. */
export function createApp(ctx: Context, deps?: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETag on JSON answers: hashing every body costs CPU on the hot path, and API answers are not
  // revalidated (the dashboard's static files keep theirs, from express.static).
  app.set('etag', false);
  app.set('trust proxy', ctx.config.TRUST_PROXY);
  app.use(requestId);
  app.use(['/api', '/v1'], apiResponseHeaders);
  // Before the JSON body: a browser can read /v1's 400 for a malformed body too.
  app.use('/v1', corsV1);
  // Before the access log, so an admin token given as ?token= never reaches it.
  if (ctx.config.ADMIN_TOKEN) app.use(ADMIN_QUEUES_PATH, adminQueuesLanding(ctx, ctx.config.ADMIN_TOKEN));
  app.use(accessLog(ctx.logger));
  // /v1 reads its body once the key is known (v1Body, in its router).
  app.use(bodyUnlessV1());

  app.use(healthRouter(ctx));
  app.get('/openapi.json', serveOpenApi(ctx.config.BRAND_NAME));
  app.use('/metrics', metricsRouter(ctx, deps ?? {}));
  const queuesBoard = deps && adminQueuesRouter(ctx, deps.queues);
  if (queuesBoard) app.use(ADMIN_QUEUES_PATH, queuesBoard);
  app.get('/', toDashboard);
  app.use('/dashboard', dashboardRouter());
  app.use('/api/auth', authRouter(ctx));
  app.use('/api/account', accountRouter(ctx));
  app.use('/api/admin/topups', adminTopupsRouter(ctx));
  app.use('/api/management/keys', managementKeysRouter(ctx));
  app.use(CHILD_KEYS_MOUNT, childKeysRouter(ctx));
  app.use('/api/webhooks', webhooksRouter(ctx));

  app.use('/api/jobs', ownerJobsRouter(ctx, deps?.queues));
  app.use('/api/batches', ownerBatchesRouter(ctx, deps?.queues));
  app.use('/api/files', ownerFilesRouter(ctx));
  if (deps) app.use('/v1', v1Router(ctx, deps));

  app.use(notFound);
  app.use(errorHandler(ctx.logger));
  return app;
}
