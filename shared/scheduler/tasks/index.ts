import { expireOverdueBatches } from '../../batches/expire.js';
import { expireFiles } from '../../batches/file-expiry.js';
import type { Context } from '../../context.js';
import type { Queues } from '../../queues.js';
import type { Upstream } from '../../upstream.js';
import { pruneDeliveries } from '../../webhooks/prune.js';
import { resumeStalledDeliveries } from '../../webhooks/resume.js';
import type { SchedulerTask } from '../scheduler.js';
import { balanceAlerts } from './balance-alerts.js';
import { expireKeys } from './expire-keys.js';
import { limitAlerts } from './limit-alerts.js';
import { emitMissedEvents } from './missed-events.js';
import { reconcileCheck } from './reconcile-check.js';
import { refreshUpstream } from './refresh-upstream.js';
import { rollover } from './rollover.js';
import { sweepStaleHolds } from './stale-holds.js';

export interface SchedulerDeps {
  queues: Queues;
  /** This process's upstream, when it has one (the api or workers role): its prices and nodes are refreshed. */
  upstream?: Upstream;
}

/** The scheduler's tasks and their schedules (config SCHEDULER_*_CRON). */
export function schedulerTasks(ctx: Context, deps: SchedulerDeps): SchedulerTask[] {
  const c = ctx.config;
  const tasks: SchedulerTask[] = [
    { name: 'expire-keys', cron: c.SCHEDULER_EXPIRE_CRON, run: () => expireKeys(ctx, deps.queues) },
    { name: 'stale-holds', cron: c.SCHEDULER_STALE_HOLDS_CRON, run: () => sweepStaleHolds(ctx, deps.queues) },
    { name: 'rollover', cron: c.SCHEDULER_ROLLOVER_CRON, run: () => rollover(ctx) },
    { name: 'limit-alerts', cron: c.SCHEDULER_LIMIT_ALERTS_CRON, run: () => limitAlerts(ctx, deps.queues) },
    // An account's balance below its owner's threshold: on the limit alerts' schedule.
    {
      name: 'balance-alerts',
      cron: c.SCHEDULER_LIMIT_ALERTS_CRON,
      run: () => balanceAlerts(ctx, deps.queues),
    },
    {
      name: 'webhook-resume',
      cron: c.SCHEDULER_WEBHOOK_RESUME_CRON,
      run: () => resumeStalledDeliveries(ctx, deps.queues),
    },
    // Job and batch events are recorded with the end they report; this emits any their process did not.
    {
      name: 'missed-events',
      cron: c.SCHEDULER_WEBHOOK_RESUME_CRON,
      run: () => emitMissedEvents(ctx, deps.queues),
    },
    // Each batch also has a delayed job at its expiry; this sweep catches any that Redis lost.
    {
      name: 'expire-batches',
      cron: c.SCHEDULER_STALE_HOLDS_CRON,
      run: () => expireOverdueBatches(ctx, deps.queues),
    },
    // Files past their expires_at (OpenAI's expires_after), deleted as DELETE /v1/files deletes them.
    { name: 'expire-files', cron: c.SCHEDULER_STALE_HOLDS_CRON, run: () => expireFiles(ctx) },
    // Ended webhook deliveries past WEBHOOK_DELIVERY_RETENTION_DAYS, payloads and attempts with them.
    { name: 'prune-deliveries', cron: c.SCHEDULER_PRUNE_CRON, run: () => pruneDeliveries(ctx) },
    {
      name: 'reconcile-check',
      cron: c.SCHEDULER_RECONCILE_CRON,
      run: () => reconcileCheck(ctx, deps.queues),
    },
  ];
  const { upstream } = deps;
  if (upstream)
    tasks.push({
      name: 'refresh-upstream',
      cron: c.SCHEDULER_REFRESH_CRON,
      leaderOnly: false,
      quiet: true,
      run: () => refreshUpstream(upstream),
    });
  return tasks;
}
