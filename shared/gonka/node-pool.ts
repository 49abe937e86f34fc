import { type Clock, systemClock } from '../clock.js';
import { type BreakerOptions, type BreakerState, CircuitBreaker } from './circuit-breaker.js';
import { DEFAULT_DISCOVERY_TIMEOUT_MS, discoverNodes, listedAddress, type NodeInfo } from './discovery.js';
import { normalizeNodeUrl } from './protocol.js';

export interface NodePoolOptions extends BreakerOptions {
  /** Drives the breakers' cooldowns; tests inject a ManualClock. @default systemClock */
  clock?: Clock;
  /** Weight of the newest sample in the latency EWMA. @default 0.2 */
  ewmaAlpha?: number;
  /** @default 5_000 */
  discoveryTimeoutMs?: number;
}

export interface NodeStatus {
  url: string;
  address: string | undefined;
  state: BreakerState;
  consecutiveFailures: number;
  latencyEwmaMs: number | undefined;
  inFlight: number;
  /** Calls with a verdict since the node joined the pool (a success or a failure). */
  calls: number;
  /** Of those, the failed ones, and streams that broke after their start was counted a success. */
  failures: number;
  /**
   * Calls the node refused for the gateway rather than the request: its credentials (401/403), its
   * Gonka account (402), the signature's time or reuse.
   */
  credentialRefusals: number;
}

interface Entry {
  info: NodeInfo;
  breaker: CircuitBreaker;
  ewmaMs: number | undefined;
  inFlight: number;
  calls: number;
  failures: number;
  credentialRefusals: number;
  /** Per kind of refusal: when one was last logged, and how many since were not (refusalToLog). */
  refusalLog: Map<string, { at: number; suppressed: number }>;
}

/** A kind of refusal of the gateway is logged once per node this often at most, with a count of the rest. */
const REFUSAL_LOG_EVERY_MS = 60_000;

/**
 * The nodes the client may call and how healthy each is. `pick` returns a node and counts it in
 * flight; every pick must be answered by exactly one of `success`, `failure` or `release`.
 */
export class NodePool {
  private entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly alpha: number;
  private readonly discoveryTimeoutMs: number;
  /** Set when the pool came from discovery, so refresh() knows where to ask again. */
  private seeds: string[] | undefined;

  constructor(
    nodes: readonly (NodeInfo | string)[],
    private readonly opts: NodePoolOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.alpha = opts.ewmaAlpha ?? 0.2;
    this.discoveryTimeoutMs = opts.discoveryTimeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS;
    this.setNodes(nodes.map((n) => (typeof n === 'string' ? { url: n } : n)));
  }

  /** A pool of every participant the seeds report (the first seed that answers wins). */
  static async discover(seeds: string | readonly string[], opts: NodePoolOptions = {}): Promise<NodePool> {
    const list = typeof seeds === 'string' ? [seeds] : [...seeds];
    const pool = new NodePool(await discoverNodes(list, opts.discoveryTimeoutMs), opts);
    pool.seeds = list;
    return pool;
  }

  /**
   * A pool of the seeds themselves that refresh() replaces with the participants they list, as a
   * discovered pool: where the first discovery failed (the network unreachable at start-up).
   */
  static seeded(seeds: readonly string[], opts: NodePoolOptions = {}): NodePool {
    const pool = new NodePool(seeds, opts);
    pool.seeds = [...seeds];
    return pool;
  }

  /** Re-reads the participant list (a new epoch); nodes that stay keep their health. */
  async refresh(): Promise<void> {
    if (!this.seeds) return;
    // Known nodes first: the original seed may have left the network.
    const seeds = [...new Set([...this.entries.keys(), ...this.seeds])];
    this.setNodes(await discoverNodes(seeds, this.discoveryTimeoutMs));
  }

  setNodes(nodes: readonly NodeInfo[]): void {
    const next = new Map<string, Entry>();
    for (const n of nodes) {
      const url = normalizeNodeUrl(n.url);
      const old = this.entries.get(url);
      const info = { ...n, url, address: n.address ?? old?.info.address };
      next.set(
        url,
        old
          ? { ...old, info }
          : {
              info,
              breaker: new CircuitBreaker(this.opts),
              ewmaMs: undefined,
              inFlight: 0,
              calls: 0,
              failures: 0,
              credentialRefusals: 0,
              refusalLog: new Map(),
            },
      );
    }
    this.entries = next;
  }

  get size(): number {
    return this.entries.size;
  }

  nodes(): NodeInfo[] {
    return [...this.entries.values()].map((e) => e.info);
  }

  /** Whether any node (healthy or not) is known to serve `model`; nodes with unknown models count. */
  serves(model: string): boolean {
    for (const e of this.entries.values()) if (!e.info.models || e.info.models.includes(model)) return true;
    return false;
  }

  /**
   * The node to call next, skipping `exclude` (already tried) and nodes not serving `model`.
   * A node whose cooldown has passed gets its half-open trial first (failover absorbs a failed
   * trial; otherwise a recovered node would never see traffic again). Otherwise the lowest
   * (latency EWMA + 1 ms) × (in flight + 1): fast nodes win, busy ones share the load.
   * When every node serving the model is open (none usable, tried or not), the one open longest
   * with no trial in flight has its trial early, as in Envoy's panic mode: a whole pool tripped by
   * a burst of failures would otherwise refuse every request for a full cooldown after the nodes
   * are well again, while one request at a time per node is all a pool still down costs.
   */
  pick(exclude?: ReadonlySet<string>, model?: string): NodeInfo | undefined {
    const now = this.clock.now().getTime();
    let best: Entry | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    let anyUsable = false;
    let earlyTrial: Entry | undefined;
    let earlyTrialSince = Number.POSITIVE_INFINITY;
    for (const e of this.entries.values()) {
      if (model !== undefined && e.info.models && !e.info.models.includes(model)) continue;
      const admission = e.breaker.admission(now);
      if (admission !== 'blocked') anyUsable = true;
      if (exclude?.has(e.info.url)) continue;
      if (admission === 'blocked') {
        const since = e.breaker.idleOpenSince;
        if (since !== null && since < earlyTrialSince) {
          earlyTrial = e;
          earlyTrialSince = since;
        }
        continue;
      }
      if (admission === 'trial') {
        e.breaker.startTrial();
        e.inFlight++;
        return e.info;
      }
      const score = ((e.ewmaMs ?? 0) + 1) * (e.inFlight + 1);
      if (score < bestScore) {
        best = e;
        bestScore = score;
      }
    }
    if (!best && !anyUsable && earlyTrial) {
      earlyTrial.breaker.startTrial();
      best = earlyTrial;
    }
    if (best) best.inFlight++;
    return best?.info;
  }

  success(url: string, latencyMs: number): void {
    const e = this.settle(url);
    if (!e) return;
    e.calls++;
    e.breaker.onSuccess();
    e.ewmaMs = e.ewmaMs === undefined ? latencyMs : this.alpha * latencyMs + (1 - this.alpha) * e.ewmaMs;
  }

  failure(url: string): void {
    const e = this.settle(url);
    if (!e) return;
    e.calls++;
    e.failures++;
    e.breaker.onFailure(this.clock.now().getTime());
  }

  /**
   * The node refused the gateway's credentials (401/403) or the signature's time or reuse. Counted
   * as the gateway's (gateway_upstream_node_credential_refusals_total: a wrong key, a clock off) and
   * against the node too: the refusal may be the node's own (a wrong transfer address configured
   * for it, its lagging view of the chain), and a node that refuses every request is sidelined by
   * its breaker rather than picked first forever (gonka32). If every node refuses, the answer
   * becomes an honest error.
   */
  refusedGateway(url: string): void {
    this.countCredentialRefusal(url);
    this.failure(url);
  }

  /**
   * The node refused the gateway's Gonka account (402: it cannot cover this request's escrow).
   * Counted, but no verdict on the node: whether the escrow fits depends on the request's size, so
   * one tenant's large requests would otherwise trip every node's breaker and refuse the others
   * (review33).
   */
  refusedAccount(url: string): void {
    const e = this.settle(url);
    if (!e) return;
    e.calls++;
    e.credentialRefusals++;
    e.breaker.onCancel();
  }

  /**
   * Whether a refusal of the gateway of this `kind` by this node is to be logged now: the first, then
   * at most one every REFUSAL_LOG_EVERY_MS, with how many were not logged since. A wrong key under
   * load would otherwise be an error line per node per request.
   */
  refusalToLog(url: string, kind: string): { suppressed: number } | null {
    const e = this.entries.get(url);
    if (!e) return { suppressed: 0 };
    const now = this.clock.now().getTime();
    const last = e.refusalLog.get(kind);
    if (last && now - last.at < REFUSAL_LOG_EVERY_MS) {
      last.suppressed++;
      return null;
    }
    e.refusalLog.set(kind, { at: now, suppressed: 0 });
    return { suppressed: last?.suppressed ?? 0 };
  }

  /** A refusal of the gateway's credentials outside a completion (a price read): counted, no verdict on the node. */
  countCredentialRefusal(url: string): void {
    const e = this.entries.get(url);
    if (e) e.credentialRefusals++;
  }

  /** A call whose verdict waits for its end (a stream) is answering: see CircuitBreaker.onAnswering. */
  answering(url: string): void {
    this.entries.get(url)?.breaker.onAnswering();
  }

  /** The call ended without a verdict on the node (the client went away). */
  release(url: string): void {
    this.settle(url)?.breaker.onCancel();
  }

  /** The node's transfer address: known from discovery, else asked of the node itself and remembered. */
  async addressOf(url: string): Promise<string> {
    const e = this.entries.get(url);
    if (e?.info.address) return e.info.address;
    const address = await listedAddress(url, this.discoveryTimeoutMs);
    if (!address) throw new Error(`${url} is not in its own participant list: cannot sign for it`);
    if (e) e.info = { ...e.info, address };
    return address;
  }

  status(): NodeStatus[] {
    const now = this.clock.now().getTime();
    return [...this.entries.values()].map((e) => ({
      url: e.info.url,
      address: e.info.address,
      state: e.breaker.state(now),
      consecutiveFailures: e.breaker.consecutiveFailures,
      latencyEwmaMs: e.ewmaMs,
      inFlight: e.inFlight,
      calls: e.calls,
      failures: e.failures,
      credentialRefusals: e.credentialRefusals,
    }));
  }

  private settle(url: string): Entry | undefined {
    const e = this.entries.get(url);
    if (e && e.inFlight > 0) e.inFlight--;
    return e;
  }
}
