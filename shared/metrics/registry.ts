import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ApiError } from '../errors.js';
import type { SettlementResult } from '../ledger/settle.js';

/**
 * This process's own Prometheus registry (never prom-client's global one, which libraries may
 * write to). Metrics that are counted where they happen live here; the ones read at scrape time
 * from Redis, BullMQ and the node pool are added per app in scrape.ts.
 */
export const processRegistry = new Registry();

const admissionDuration = new Histogram({
  name: 'gateway_admission_duration_seconds',
  help: 'Time of one admission step (Redis check-and-hold plus the durable hold in Postgres)',
  labelNames: ['outcome'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [processRegistry],
});

const admissions = new Counter({
  name: 'gateway_admissions_total',
  help: 'Admission decisions: admitted, or the refusal reason (API.md error type or key code)',
  labelNames: ['result'] as const,
  registers: [processRegistry],
});

const httpRequests = new Histogram({
  name: 'gateway_http_request_duration_seconds',
  help: 'HTTP requests answered, by method, route (ids as :id; `unmatched` for paths no route serves) and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [processRegistry],
});

const stateLoads = new Counter({
  name: 'gateway_admission_state_loads_total',
  help: 'Child keys whose admission state was (re)loaded in Redis from Postgres: a key’s first request, its first of each UTC day (a burst just after 00:00 UTC is normal), or every key after Redis lost its data (a burst at another hour is a Redis loss or restart)',
  registers: [processRegistry],
});

const settlementLag = new Histogram({
  name: 'gateway_settlement_lag_seconds',
  help: 'From a request being handed to settlement to its hold being booked',
  labelNames: ['status'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
  registers: [processRegistry],
});

const taskRuns = new Counter({
  name: 'gateway_scheduler_task_runs_total',
  help: 'Scheduled task runs by this process, by result',
  labelNames: ['task', 'result'] as const,
  registers: [processRegistry],
});

const taskLastSuccess = new Gauge({
  name: 'gateway_scheduler_task_last_success_timestamp_seconds',
  help: 'When each scheduled task last finished without error in this process',
  labelNames: ['task'] as const,
  registers: [processRegistry],
});

const staleHolds = new Counter({
  name: 'gateway_stale_holds_resolved_total',
  help: 'Holds the stale-hold sweeper resolved by this process: voided (nothing charged: a sync chat whose settlement was lost, a job past its deadline) or posted (a finished job whose settlement was lost, charged its recorded usage). Any is worth a look at the logs',
  labelNames: ['outcome'] as const,
  registers: [processRegistry],
});

// Both series from the start: Prometheus's increase() misses a series' first sample, and these are
// rare enough that the first is often the only one.
for (const outcome of ['voided', 'posted']) staleHolds.inc({ outcome }, 0);

const servedUnbilled = new Counter({
  name: 'gateway_served_unbilled_total',
  help: 'Requests whose usage came after the stale-hold sweeper had voided their hold: answered and never billed. Any means a request outlived its hold’s deadline: most likely the scheduler’s clock runs ahead of the api’s (keep the hosts’ clocks in sync)',
  registers: [processRegistry],
});

const webhookAttempts = new Counter({
  name: 'gateway_webhook_attempts_total',
  help: 'Webhook delivery attempts by what came of the delivery (succeeded, retry, failed, disabled by a 410) and the receiver’s answer (2xx…5xx, or none: no answer, a refused address)',
  labelNames: ['result', 'response'] as const,
  registers: [processRegistry],
});

let fileUploads: (() => { receiving: number; waiting: number }) | null = null;
new Gauge({
  name: 'gateway_file_uploads',
  help: 'Batch input uploads of this process: receiving (spooled to disk, then checked and stored in turn, UPLOADS_IN_FLIGHT at a time) or waiting, their body unread, for a receiving turn (UPLOADS_RECEIVING, or their account’s UPLOADS_PER_ACCOUNT)',
  labelNames: ['state'] as const,
  registers: [processRegistry],
  collect() {
    const now = fileUploads?.();
    if (!now) return;
    this.set({ state: 'receiving' }, now.receiving);
    this.set({ state: 'waiting' }, now.waiting);
  },
});

/** Where /metrics reads this process's uploads, receiving and waiting for a turn, when scraped. */
export function watchFileUploads(read: () => { receiving: number; waiting: number }): void {
  fileUploads = read;
}

let defaultsOn = false;
/** Process metrics (memory, event loop lag, GC), started once and only by processes that serve them. */
export function enableDefaultMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: processRegistry, prefix: 'gateway_' });
}

/** One admission, from its start (`performance.now()`); `refusal` null when admitted. */
export function observeAdmission(refusal: ApiError | null, startedMs: number): void {
  const seconds = (performance.now() - startedMs) / 1000;
  admissionDuration.observe({ outcome: refusal ? 'refused' : 'admitted' }, seconds);
  const code = refusal?.extra.code;
  admissions.inc({ result: refusal ? (typeof code === 'string' ? code : refusal.type) : 'admitted' });
}

/** One rebuild of a child key's admission state (loadAdmissionState). */
export function countStateLoad(): void {
  stateLoads.inc();
}

/** The settlement worker's onSettled hook. */
export function observeSettlement(lagMs: number, result: SettlementResult): void {
  settlementLag.observe({ status: result.status }, Math.max(lagMs, 0) / 1000);
}

export function recordTaskRun(task: string, ok: boolean): void {
  taskRuns.inc({ task, result: ok ? 'ok' : 'error' });
  if (ok) taskLastSuccess.set({ task }, Date.now() / 1000);
}

/** What one stale-hold sweep resolved. */
export function countStaleHolds(voided: number, posted: number): void {
  if (voided) staleHolds.inc({ outcome: 'voided' }, voided);
  if (posted) staleHolds.inc({ outcome: 'posted' }, posted);
}

/** Settlements that found their hold voided before them (settleHolds). */
export function countServedUnbilled(n: number): void {
  servedUnbilled.inc(n);
}

/** One webhook attempt: `result` what it made of the delivery, `statusCode` the receiver's (null: none). */
export function observeWebhookAttempt(result: string, statusCode: number | null): void {
  webhookAttempts.inc({
    result,
    response: statusCode === null ? 'none' : `${Math.floor(statusCode / 100)}xx`,
  });
}

/** One answered HTTP request (the access log's close hook). */
export function observeHttpRequest(method: string, route: string, status: number, seconds: number): void {
  httpRequests.observe({ method, route, status: String(status) }, seconds);
}
