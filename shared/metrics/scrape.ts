import { setTimeout as sleep } from 'node:timers/promises';
import type { JobType } from 'bullmq';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Context } from '../context.js';
import { type OpenHoldsSummary, openHoldsSummary } from '../db/queries/holds.js';
import { liveJobCounts } from '../db/queries/reconcile-jobs.js';
import type { NodeStatus } from '../gonka/node-pool.js';
import { type QueueName, type Queues, queuePayloads } from '../queues.js';
import { readiness } from '../readiness.js';
import { loadReconcileSummary } from '../reconcile/summary.js';
import { clockOffsetMs } from '../redis/clock-offset.js';
import { errOrOutage } from '../redis/outage-log.js';
import type { Upstream } from '../upstream.js';
import { enableDefaultMetrics, processRegistry } from './registry.js';

export interface ScrapeDeps {
  queues?: Queues;
  upstream?: Upstream;
}

const JOB_STATES: JobType[] = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'failed',
  'completed',
  'paused',
];

/**
 * How long a scrape-time reading may take. BullMQ's connection waits for Redis however long it is
 * away (its commands are retried, not failed), so without a bound one unreachable store would hold
 * every scrape, and the series of the stores that do answer, until the scraper gives up.
 */
const READ_TIMEOUT_MS = 2_000;

/** Run a scrape-time reading; a store that does not answer leaves its series out instead of failing /metrics. */
async function safely(ctx: Context, what: string, fn: () => Promise<void>): Promise<void> {
  const late = Symbol('late');
  try {
    const outcome = await Promise.race([fn(), sleep(READ_TIMEOUT_MS, late, { ref: false })]);
    if (outcome === late) ctx.logger.warn({ what, ms: READ_TIMEOUT_MS }, 'metrics: reading timed out');
  } catch (err) {
    ctx.logger.warn({ ...errOrOutage(ctx.redis, err), what }, 'metrics: reading failed');
  }
}

/**
 * The registry a /metrics endpoint serves: this process's counters and histograms, plus gauges read
 * when scraped — BullMQ queue depths, async jobs not finished yet, the Gonka node pool's health, and the last reconciliation's
 * drift (from Redis, so any process exports what the scheduler found).
 */
export function createMetricsRegistry(ctx: Context, deps: ScrapeDeps): Registry {
  enableDefaultMetrics();
  const scrape = new Registry();
  const { queues, upstream } = deps;

  if (queues)
    new Gauge({
      name: 'gateway_queue_jobs',
      help: 'BullMQ jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [scrape],
      async collect() {
        this.reset();
        await safely(ctx, 'queues', async () => {
          for (const name of Object.keys(queuePayloads) as QueueName[]) {
            const counts = await queues.get(name).getJobCounts(...JOB_STATES);
            for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
          }
        });
      },
    });

  new Gauge({
    name: 'gateway_async_jobs',
    help: 'Async jobs and batch lines not finished yet, by status: running once a node call has lasted INFERENCE_RUNNING_MARK_MS, queued before that (the inference queue counts groups of them)',
    labelNames: ['status'] as const,
    registers: [scrape],
    async collect() {
      this.reset();
      await safely(ctx, 'jobs', async () => {
        for (const [status, n] of Object.entries(await liveJobCounts(ctx.sql))) this.set({ status }, n);
      });
    },
  });

  new Gauge({
    name: 'gateway_clock_offset_seconds',
    help: 'This process’s clock minus Redis’s (TIME), the round trip halved: keep every host within a second or two (a scheduler ahead of an api by HOLD_GRACE_SECONDS voids requests still being answered)',
    registers: [scrape],
    async collect() {
      await safely(ctx, 'clock', async () => this.set((await clockOffsetMs(ctx)) / 1000));
    },
  });

  // prom-client collects a scrape's gauges at once: the four share the query in flight.
  let holds: Promise<{ now: Date; summary: OpenHoldsSummary }> | null = null;
  const holdsNow = () =>
    (holds ??= (async () => {
      const now = ctx.clock.now();
      return { now, summary: await openHoldsSummary(ctx.sql, now) };
    })().finally(() => {
      holds = null;
    }));
  const holdsGauge = (name: string, help: string, read: (s: OpenHoldsSummary, now: Date) => number) =>
    new Gauge({
      name,
      help,
      registers: [scrape],
      async collect() {
        await safely(ctx, 'holds', async () => {
          const { now, summary } = await holdsNow();
          this.set(read(summary, now));
        });
      },
    });
  holdsGauge('gateway_open_holds', 'Holds open now (requests admitted and not yet settled)', (s) => s.count);
  holdsGauge(
    'gateway_open_holds_ngonka',
    'nGNK reserved by open holds (taken from available balances until they settle)',
    (s) => Number(s.amount),
  );
  holdsGauge(
    'gateway_open_holds_overdue',
    'Open holds past their deadline: the stale-hold sweeper resolves them each minute (alert if it stays above 0)',
    (s) => s.overdue,
  );
  holdsGauge(
    'gateway_open_hold_oldest_age_seconds',
    'Age of the oldest open hold (0 with none open); a sync chat hold lives at most SYNC_STREAM_MAX_SECONDS + HOLD_GRACE_SECONDS, a job hold 6 hours',
    (s, now) => (s.oldestCreatedAt ? Math.max(0, (now.getTime() - s.oldestCreatedAt.getTime()) / 1000) : 0),
  );

  if (upstream) {
    /**
     * A series per node of the pool, read when scraped: a gauge, or a counter the pool keeps (a node
     * that leaves the pool and comes back starts again at 0, which Prometheus reads as a reset).
     */
    const perNode = (
      kind: 'gauge' | 'counter',
      name: string,
      help: string,
      read: (s: NodeStatus) => number | undefined,
    ) => {
      const config = { name, help, labelNames: ['node'] as const, registers: [scrape] };
      const each = (put: (node: string, v: number) => void) => {
        for (const s of upstream.pool.status()) {
          const v = read(s);
          if (v !== undefined) put(s.url, v);
        }
      };
      if (kind === 'gauge')
        new Gauge({
          ...config,
          collect() {
            this.reset();
            each((node, v) => this.set({ node }, v));
          },
        });
      else
        new Counter({
          ...config,
          collect() {
            this.reset();
            each((node, v) => this.inc({ node }, v));
          },
        });
    };
    const nodeGauge = (name: string, help: string, read: (s: NodeStatus) => number | undefined) =>
      perNode('gauge', name, help, read);
    nodeGauge(
      'gateway_upstream_node_latency_seconds',
      'Latency EWMA of successful calls per Gonka node',
      (s) => (s.latencyEwmaMs === undefined ? undefined : s.latencyEwmaMs / 1000),
    );
    nodeGauge(
      'gateway_upstream_node_consecutive_failures',
      'Failures in a row per Gonka node',
      (s) => s.consecutiveFailures,
    );
    nodeGauge('gateway_upstream_node_in_flight', 'Calls in flight per Gonka node', (s) => s.inFlight);
    perNode(
      'counter',
      'gateway_upstream_node_calls_total',
      'Calls per Gonka node that got a verdict',
      (s) => s.calls,
    );
    perNode(
      'counter',
      'gateway_upstream_node_failures_total',
      'Failed calls per Gonka node (an error, a timeout, a refusal, a stream broken mid-way)',
      (s) => s.failures,
    );
    perNode(
      'counter',
      'gateway_upstream_node_credential_refusals_total',
      'Calls a Gonka node refused for the gateway, not the request: its key or signature (401/403), the signature’s time or reuse (400: the clock), its Gonka account (402) (alert on any)',
      (s) => s.credentialRefusals,
    );
    nodeGauge('gateway_upstream_node_available', '1 unless the node is circuit-broken (open)', (s) =>
      s.state === 'open' ? 0 : 1,
    );
    new Gauge({
      name: 'gateway_upstream_pricing_age_seconds',
      help: 'Since node prices were last fetched successfully (since the process started, before the first: no model has a price until then)',
      registers: [scrape],
      collect() {
        // Never fetched is as old as the process, not 0, which reads as fresh (gonka32).
        const { updatedAt, createdAt } = upstream.pricing;
        this.set((Date.now() - (updatedAt ?? createdAt)) / 1000);
      },
    });
  }

  // What to alert on when the series read from a store go missing from a scrape (they are left out).
  new Gauge({
    name: 'gateway_store_up',
    help: '1 when the store answered this scrape within a second, else 0 (the series read from it are then left out of the scrape)',
    labelNames: ['store'] as const,
    registers: [scrape],
    async collect() {
      const r = await readiness(ctx);
      this.set({ store: 'postgres' }, r.postgres === 'ok' ? 1 : 0);
      this.set({ store: 'redis' }, r.redis === 'ok' ? 1 : 0);
    },
  });

  // Each reads the summary itself: prom-client collects gauges concurrently, in no fixed order.
  new Gauge({
    name: 'gateway_reconcile_drift',
    help: 'Drift items the last scheduled reconciliation confirmed, per check (0 = consistent)',
    labelNames: ['check'] as const,
    registers: [scrape],
    async collect() {
      this.reset();
      await safely(ctx, 'reconcile', async () => {
        const s = await loadReconcileSummary(ctx);
        for (const [check, n] of Object.entries(s?.checks ?? {})) this.set({ check }, n);
      });
    },
  });
  new Gauge({
    name: 'gateway_reconcile_last_run_timestamp_seconds',
    help: 'When the last scheduled reconciliation ran',
    registers: [scrape],
    async collect() {
      await safely(ctx, 'reconcile', async () => {
        const s = await loadReconcileSummary(ctx);
        if (s) this.set(Date.parse(s.at) / 1000);
      });
    },
  });
  new Gauge({
    name: 'gateway_reconcile_unconfirmed',
    help: 'Differences the last reconciliation saw once but not on its second look (requests in flight)',
    registers: [scrape],
    async collect() {
      await safely(ctx, 'reconcile', async () => {
        const s = await loadReconcileSummary(ctx);
        if (s) this.set(s.unconfirmed);
      });
    },
  });
  return Registry.merge([processRegistry, scrape]);
}
