import type { Logger } from '../logger.js';
import { REFUSED } from './failover.js';
import type { NodePool } from './node-pool.js';
import { PRICING_PATH, pricingResponseSchema } from './protocol.js';

export interface PricingCacheOptions {
  pool: NodePool;
  /** @default 30_000 */
  intervalMs?: number;
  /** Per node asked. @default 5_000 */
  timeoutMs?: number;
  /** Nodes tried per refresh before giving up until the next one. @default 3 */
  maxAttempts?: number;
  /** Sent with each fetch: a broker's bearer token (bearer mode). */
  headers?: Record<string, string>;
  logger?: Logger;
}

/**
 * Node prices (`/v1/governance/pricing`), nGNK per token, refreshed on an interval. The gateway's
 * markup is applied by its caller, never here. A failed refresh keeps the last good prices.
 */
export class PricingCache {
  private prices = new Map<string, bigint>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  /** When the prices were last fetched successfully (ms since epoch), or null before the first. */
  updatedAt: number | null = null;
  /** When this cache was made: prices never fetched are as old as it (gateway_upstream_pricing_age_seconds). */
  readonly createdAt = Date.now();

  constructor(private readonly opts: PricingCacheOptions) {
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.maxAttempts = opts.maxAttempts ?? 3;
  }

  price(model: string): bigint | undefined {
    return this.prices.get(model);
  }

  models(): { id: string; pricePerToken: bigint }[] {
    return [...this.prices].map(([id, pricePerToken]) => ({ id, pricePerToken }));
  }

  /** Fetches once now, then every intervalMs. Resolves after the first fetch; rejects if it failed. */
  start(): Promise<void> {
    if (!this.timer) {
      this.timer = setInterval(() => {
        this.refresh().catch((err: unknown) =>
          this.opts.logger?.warn({ err }, 'gonka pricing refresh failed'),
        );
      }, this.intervalMs);
      // A pending refresh must not keep a finished process alive.
      this.timer.unref();
    }
    return this.refresh();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Concurrent callers share one fetch. */
  refresh(): Promise<void> {
    this.inFlight ??= this.fetchPrices().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Asks the nodes in turn, starting one further each refresh. Not through the pool's pick and
   * verdicts: a node that answers its prices but fails completions must stay tripped for
   * completions, and its latency is a completion's, not a price read's.
   */
  private async fetchPrices(): Promise<void> {
    const nodes = this.opts.pool.nodes();
    let lastError: unknown = new Error('no Gonka node available for pricing');
    const start = this.turn++;
    for (let i = 0; i < Math.min(this.maxAttempts, nodes.length); i++) {
      const node = nodes[(start + i) % nodes.length]!;
      try {
        const res = await fetch(`${node.url}${PRICING_PATH}`, {
          signal: AbortSignal.timeout(this.timeoutMs),
          ...(this.opts.headers ? { headers: this.opts.headers } : {}),
        });
        if (!res.ok) {
          await res.body?.cancel();
          // Only a read that carried credentials (a broker's token) blames them.
          if ((res.status === 401 || res.status === 403) && this.opts.headers) {
            // A broker refusing GONKA_API_KEY here refuses completions too: no model gets a price,
            // and /v1/models is empty. Said and counted as a completion's refusal is (gonka32).
            this.opts.pool.countCredentialRefusal(node.url);
            this.opts.logger?.error(
              { node: node.url, status: res.status, what: 'pricing' },
              REFUSED.credentials,
            );
          }
          throw new Error(`pricing from ${node.url}: HTTP ${res.status}`);
        }
        const parsed = pricingResponseSchema.parse(await res.json());
        const next = new Map<string, bigint>();
        for (const m of parsed.models) next.set((m.id ?? m.model_id) as string, m.price_per_token);
        this.prices = next;
        this.updatedAt = Date.now();
        return;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  private turn = 0;
}
