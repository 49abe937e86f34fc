import type { Config } from './config.js';
import type { PricingCache } from './gonka/index.js';
import { pricePerMillionTokens, priceTokens } from './pricing.js';

export interface ServedModel {
  /** What clients send and see. */
  id: string;
  /** What the Gonka node is asked for. */
  upstream: string;
  /** nGNK per token charged to the client (node price × markup, rounded up): a per-token bound. */
  pricePerToken: bigint;
  /**
   * nGNK per million tokens, exact: what priceTokens bills from, ceil(tokens × this / 1,000,000),
   * which the rounded per-token figure cannot reproduce.
   */
  pricePerMillionTokens: bigint;
  /** The node's price, kept on the hold so settlement charges at the admission-time price. */
  upstreamPricePerToken: bigint;
}

/**
 * The models the gateway sells, under the public ids of MODEL_ALIASES (white-label) or the node's
 * ids when none are configured, priced from the live node prices plus the configured markup.
 */
export class ModelCatalog {
  constructor(
    private readonly config: Config,
    private readonly pricing: PricingCache,
  ) {}

  resolve(publicId: string): ServedModel | undefined {
    const aliases = this.config.MODEL_ALIASES;
    const upstream = aliases.size > 0 ? aliases.get(publicId) : publicId;
    if (!upstream) return undefined;
    const price = this.pricing.price(upstream);
    if (price === undefined) return undefined;
    const bps = this.config.PRICE_MARKUP_BPS;
    return {
      id: publicId,
      upstream,
      upstreamPricePerToken: price,
      pricePerToken: priceTokens(1n, price, bps),
      pricePerMillionTokens: pricePerMillionTokens(price, bps),
    };
  }

  /**
   * A model the gateway may sell that has no price now: the nodes' prices were never fetched, or an
   * alias's model is missing from them. Its requests wait for the nodes (503), not a 400 saying the
   * model does not exist, which a client would never retry.
   */
  unpriced(publicId: string): boolean {
    const aliases = this.config.MODEL_ALIASES;
    if (aliases.size === 0) return this.pricing.updatedAt === null;
    const upstream = aliases.get(publicId);
    return upstream !== undefined && this.pricing.price(upstream) === undefined;
  }

  list(): ServedModel[] {
    const aliases = this.config.MODEL_ALIASES;
    const ids = aliases.size > 0 ? [...aliases.keys()] : this.pricing.models().map((m) => m.id);
    return ids.flatMap((id) => {
      const m = this.resolve(id);
      return m ? [m] : [];
    });
  }
}
