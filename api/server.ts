import { createServer, type Server } from 'node:http';
import type { Context } from '../shared/context.js';
import { type AppDeps, createApp } from './app.js';
import { fastV1 } from './fast-v1.js';

/** The api role's HTTP server (not listening yet): the Express app, with the hot /v1 routes' fast path. */
export function createApiServer(ctx: Context, deps?: AppDeps): Server {
  const app = createApp(ctx, deps);
  const requestTimeout = ctx.config.REQUEST_TIMEOUT_MS;
  return createServer(
    {
      requestTimeout,
      // Node looks for overdue requests every 30 s by default: a tenth of the timeout, so a short
      // one is kept to within 10%.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeout / 10))),
    },
    deps ? fastV1(ctx, deps, app) : app,
  );
}
