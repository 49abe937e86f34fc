import type { Context } from './context.js';
import { GonkaClient, NodePool, PricingCache } from './gonka/index.js';
import { ModelCatalog } from './models.js';

/** The Gonka side of the gateway: nodes, their prices, the client that calls them, the catalogue. */
export interface Upstream {
  pool: NodePool;
  pricing: PricingCache;
  client: GonkaClient;
  models: ModelCatalog;
  close(): Promise<void>;
}

/**
 * Build the upstream from explicit node URLs (GONKA_NODES, or the in-process simulator). The auth
 * mode follows the config: a private key means signed requests to nodes, an API key means a bearer
 * gateway or broker, neither means an open node (the simulator).
 */
export async function createUpstream(ctx: Context, nodeUrls: string[]): Promise<Upstream> {
  const { config, logger } = ctx;
  const pool = new NodePool(nodeUrls, { clock: ctx.clock });
  const pricing = new PricingCache({
    pool,
    intervalMs: config.PRICING_REFRESH_SECONDS * 1000,
    // In bearer mode the upstream is a broker, which may answer nothing without its token.
    ...(config.GONKA_API_KEY && !config.GONKA_PRIVATE_KEY
      ? { headers: { authorization: `Bearer ${config.GONKA_API_KEY}` } }
      : {}),
    logger,
  });
  await pricing
    .start()
    .catch((err: unknown) => logger.warn({ err }, 'first pricing fetch failed; retrying on schedule'));
  const client = new GonkaClient({
    pool,
    mode: config.GONKA_PRIVATE_KEY ? 'signed' : config.GONKA_API_KEY ? 'bearer' : 'none',
    bearerToken: config.GONKA_API_KEY,
    privateKeyHex: config.GONKA_PRIVATE_KEY?.replace(/^0x/, ''),
    maxAttempts: config.UPSTREAM_MAX_ATTEMPTS,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    logger,
  });
  return {
    pool,
    pricing,
    client,
    models: new ModelCatalog(config, pricing),
    async close() {
      pricing.stop();
    },
  };
}
