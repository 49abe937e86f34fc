import { createServer, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { Context } from '../shared/context.js';
import { type AppDeps, createApp } from './app.js';
import { answerClientErrors } from './client-errors.js';
import { fastV1 } from './fast-v1.js';

/** How often a closing server ends the connections whose last answer has gone out meanwhile. */
const DRAIN_SWEEP_MS = 100;
/** How long a closing server leaves idle kept-alive connections to bring one more request (closeApiServer). */
const DRAIN_LINGER_MS = 1_000;
const netClose = NetServer.prototype.close;

/** Each api server's open connections, for closeApiServer (one entry per connection, not per request). */
const connections = new WeakMap<Server, Set<Socket>>();

/** The api role's HTTP server (not listening yet): the Express app, with the hot /v1 routes' fast path. */
export function createApiServer(ctx: Context, deps?: AppDeps): Server {
  const app = createApp(ctx, deps);
  const handler = deps ? fastV1(ctx, deps, app) : app;
  const requestTimeout = ctx.config.REQUEST_TIMEOUT_MS;
  const server = createServer(
    {
      requestTimeout,
      // Node looks for overdue requests every 30 s by default: a tenth of the timeout, so a short
      // one is kept to within 10%.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeout / 10))),
    },
    (req, res) => {
      // A request on a kept-alive connection of a closing server is answered, and its connection
      // ends with it.
      if (!server.listening) res.shouldKeepAlive = false;
      handler(req, res);
    },
  );
  server.keepAliveTimeout = ctx.config.KEEP_ALIVE_TIMEOUT_MS;
  answerClientErrors(server, requestTimeout);
  const open = new Set<Socket>();
  connections.set(server, open);
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return server;
}

/**
 * Stop listening, let every request in flight finish, and end each connection once its answer is
 * out. Node's own close() ends only the connections idle at that instant: a client that kept its
 * connection busy (a load balancer's pool) was served on it for as long as it kept sending, and
 * the process never finished shutting down. Answers not yet started say `Connection: close`.
 *
 * An idle kept-alive connection is not ended at once either (as Node's close() would): a client
 * may be sending its next request on it at that very moment, and would see a reset with no way to
 * know whether it was served. For DRAIN_LINGER_MS each is left to bring its next request, answered
 * with `Connection: close`; only those still idle after that are ended.
 */
export function closeApiServer(
  server: Server,
  /** Then `onOverdue` runs, once, if connections are still open (the api ends its open streams). */
  overdue?: { afterMs: number; onOverdue(): void },
): Promise<void> {
  return new Promise((resolve) => {
    let sweep: NodeJS.Timeout | undefined;
    const linger = setTimeout(() => {
      server.closeIdleConnections();
      sweep = setInterval(() => server.closeIdleConnections(), DRAIN_SWEEP_MS);
    }, DRAIN_LINGER_MS);
    const late = overdue && setTimeout(overdue.onOverdue, overdue.afterMs);
    // net.Server's close: stop listening, done once every connection has ended. (http.Server's
    // own close() also ends the idle connections right away.)
    netClose.call(server, () => {
      clearTimeout(linger);
      clearTimeout(late);
      clearInterval(sweep);
      resolve();
    });
    for (const socket of connections.get(server) ?? []) {
      // The answer a connection is serving (Node's own field, as http-terminator reads it).
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && !res.headersSent) res.setHeader('connection', 'close');
    }
  });
}
