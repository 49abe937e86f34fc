import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../logger.js';
import { CHAT_PATH, MODELS_PATH, PARTICIPANTS_PATH, PRICING_PATH } from '../protocol.js';
import type { AuthCheck } from './auth.js';
import { type ChatContext, handleChat, type SimStats } from './chat.js';
import { type NodeFaults, nodeFaultsSchema } from './faults.js';
import { BodyTooLargeError, readBody, sendJson, sendNodeError } from './http.js';

export interface SimNode {
  readonly index: number;
  readonly url: string;
  /** This node's `gonka1…` address: the X-Transfer-Address signed requests must name. */
  readonly address: string;
  /** Replaces the node's faults; `setFaults({})` heals it. */
  setFaults(f: NodeFaults): void;
  readonly faults: NodeFaults;
  /** Live counters, so tests can see which node served. */
  readonly stats: SimStats;
  resetStats(): void;
}

/** What every node of one simulator shares: the model table and the participant list. */
export interface SimNetwork {
  models: Map<string, bigint>;
  modelsBody(): unknown;
  pricingBody(): unknown;
  participantsBody(): unknown;
}

export interface NodeServer extends SimNode {
  close(): Promise<void>;
}

/** One simulated Gonka node on plain node:http: it is a benchmark baseline, so no framework overhead. */
export async function startNode(opts: {
  index: number;
  host: string;
  port: number;
  address: string;
  network: SimNetwork;
  auth: AuthCheck;
  /** For GET /v1/models and /v1/governance/pricing. */
  readAuth: AuthCheck;
  baseLatencyMs: number;
  logger?: Logger;
}): Promise<NodeServer> {
  const ctx: ChatContext = {
    models: opts.network.models,
    publicUrl: '', // once listening
    faults: {},
    baseLatencyMs: opts.baseLatencyMs,
    stats: { requests: 0, served: 0, errors: 0, abandoned: 0 },
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && path === CHAT_PATH) {
      ctx.stats.requests++;
      const raw = await readBody(req);
      const check = opts.auth(req.headers, raw);
      if (!check.ok) {
        ctx.stats.errors++;
        return sendNodeError(res, check.status, check.reason);
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        ctx.stats.errors++;
        return sendNodeError(res, 400, 'invalid request format');
      }
      return handleChat(res, body, ctx);
    }
    if (req.method === 'GET' && (path === MODELS_PATH || path === PRICING_PATH)) {
      const check = opts.readAuth(req.headers, Buffer.alloc(0));
      if (!check.ok) return sendNodeError(res, check.status, check.reason);
      const network = opts.network;
      return sendJson(res, 200, path === MODELS_PATH ? network.modelsBody() : network.pricingBody());
    }
    if (req.method === 'GET' && path === PARTICIPANTS_PATH)
      return sendJson(res, 200, opts.network.participantsBody());
    if (req.method === 'GET' && path === '/_sim/stats') return sendJson(res, 200, ctx.stats);
    if (req.method === 'POST' && path === '/_sim/faults') {
      const parsed = nodeFaultsSchema.safeParse(safeJson((await readBody(req)).toString('utf8')));
      if (!parsed.success) return sendNodeError(res, 400, parsed.error.message);
      ctx.faults = parsed.data;
      return sendJson(res, 200, ctx.faults);
    }
    sendNodeError(res, 404, 'Not Found');
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError) return sendNodeError(res, 413, err.message);
      opts.logger?.error({ err, node: opts.index }, 'simulator request failed');
      if (!res.headersSent) sendNodeError(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  });
  // Longer than any client's idle keep-alive, so the client never reuses a socket we just closed.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  // A wildcard bind is not an address a client can dial; advertise loopback instead.
  const bound = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const host = bound.includes(':') ? `[${bound}]` : bound;

  ctx.publicUrl = `http://${host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    index: opts.index,
    url: ctx.publicUrl,
    address: opts.address,
    setFaults(f) {
      ctx.faults = nodeFaultsSchema.parse(f);
    },
    get faults() {
      return ctx.faults;
    },
    get stats() {
      return ctx.stats;
    },
    resetStats() {
      // In place: a test may hold the stats object.
      ctx.stats.requests = 0;
      ctx.stats.served = 0;
      ctx.stats.errors = 0;
      ctx.stats.abandoned = 0;
    },
    close() {
      // Cached so a second close() waits for the first instead of failing on a closed server.
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
