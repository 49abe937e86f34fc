import { nodesOf } from './config-upstream.js';
import type { Context } from './context.js';
import { listedAddress } from './gonka/discovery.js';
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
 * Build the upstream from explicit nodes (GONKA_NODES' entries, or the in-process simulator's URLs). The auth
 * mode follows the config: a private key means signed requests to nodes, an API key means a bearer
 * gateway or broker, neither means an open node (the simulator).
 */
export async function createUpstream(ctx: Context, nodeEntries: string[]): Promise<Upstream> {
  const { config, logger } = ctx;
  // `url` or `url;gonka1…`: a node's transfer address given, where its participant list cannot say it.
  const nodes = nodesOf(nodeEntries);
  const pool = config.GONKA_DISCOVERY
    ? await discoveredPool(
        ctx,
        nodes.map((n) => n.url),
      )
    : new NodePool(nodes, { clock: ctx.clock });
  if (config.GONKA_PRIVATE_KEY) await checkAddresses(ctx, pool, { discovered: config.GONKA_DISCOVERY });
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
  // A discovered pool reads the participants again on the prices' interval, in every process that
  // calls nodes (api, workers): where the scheduler runs apart, its refresh task has no pool.
  const rediscover = config.GONKA_DISCOVERY
    ? setInterval(() => {
        pool.refresh().catch((err: unknown) => logger.warn({ err }, 'gonka node discovery failed'));
      }, config.PRICING_REFRESH_SECONDS * 1000).unref()
    : undefined;
  return {
    pool,
    pricing,
    client,
    models: new ModelCatalog(config, pricing),
    async close() {
      pricing.stop();
      clearInterval(rediscover);
    },
  };
}

/** The participants GONKA_NODES list; the seeds alone (found again on refresh) if none answers now. */
async function discoveredPool(ctx: Context, seeds: string[]): Promise<NodePool> {
  try {
    const pool = await NodePool.discover(seeds, { clock: ctx.clock });
    ctx.logger.info({ nodes: pool.size }, 'gonka nodes discovered');
    return pool;
  } catch (err) {
    ctx.logger.warn(
      { err },
      'gonka node discovery failed; using GONKA_NODES until a refresh finds the participants',
    );
    return NodePool.seeded(seeds, { clock: ctx.clock });
  }
}

/**
 * Signed mode signs for each node's transfer address, which a node configured by URL is asked for
 * (its own participant list must name that URL). Asked now, so a node that cannot be signed for
 * is one error line at start naming it, not a 503 on every request routed to it.
 */
async function checkAddresses(ctx: Context, pool: NodePool, opts: { discovered: boolean }): Promise<void> {
  await Promise.all(
    pool.nodes().map(async (n) => {
      if (!n.address) {
        await pool
          .addressOf(n.url)
          .catch((err: unknown) =>
            ctx.logger.error(
              { err, node: n.url },
              'no transfer address for this node: signed requests to it will fail (its participant list must name this URL; GONKA_DISCOVERY=true takes the URLs from that list)',
            ),
          );
        return;
      }
      // An address written in GONKA_NODES (`url;gonka1…`) is checked against the node's own list:
      // a wrong one has the node refuse every request signed for it (gonka32), said at start.
      // Discovered addresses came from such a list already: not asked again, once per node.
      if (opts.discovered) return;
      const listed = await listedAddress(n.url).catch(() => undefined); // unreachable now: its requests will say so
      if (listed && listed !== n.address)
        ctx.logger.error(
          { node: n.url, configured: n.address, listed },
          'the transfer address GONKA_NODES gives this node is not the one its participant list names: the node refuses requests signed for it',
        );
    }),
  );
}
