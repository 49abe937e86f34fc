import { createServer, type Server } from 'node:http';
import type { Context } from '../shared/context.js';
import { type AppDeps, createApp } from './app.js';
import { fastV1 } from './fast-v1.js';

/** The api role's HTTP server (not listening yet): the Express app, with the hot /v1 routes' fast path. */
export function createApiServer(ctx: Context, deps?: AppDeps): Server {
  const app = createApp(ctx, deps);
  return createServer(deps ? fastV1(ctx, deps, app) : app);
}
