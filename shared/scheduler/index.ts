import type { Context } from '../context.js';
import { Scheduler, type SchedulerOptions, type SchedulerTask } from './scheduler.js';
import { type SchedulerDeps, schedulerTasks } from './tasks/index.js';

export type { SchedulerDeps, SchedulerTask };
export { Scheduler };

/**
 * Start the scheduler role: every task of tasks/index.ts under one leader lock. Returns the running
 * scheduler; `stop()` it on shutdown.
 */
export function startScheduler(ctx: Context, deps: SchedulerDeps, opts: SchedulerOptions = {}): Scheduler {
  const scheduler = new Scheduler(ctx, schedulerTasks(ctx, deps), opts);
  scheduler.start();
  return scheduler;
}
