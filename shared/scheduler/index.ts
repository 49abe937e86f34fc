import type { Context } from '../context.js';
import { Scheduler, type SchedulerOptions, type SchedulerTask } from './scheduler.js';
import { type SchedulerDeps, schedulerTasks } from './tasks/index.js';

export type { SchedulerDeps, SchedulerTask };
export { Scheduler };

/**
 * Start the scheduler role. `extraTasks` lets other modules add their own periodic work (batch
 * expiry, for one) under the same leader lock. Returns the running scheduler; `stop()` it on shutdown.
 */
export function startScheduler(
  ctx: Context,
  deps: SchedulerDeps & { extraTasks?: SchedulerTask[] },
  opts: SchedulerOptions = {},
): Scheduler {
  const scheduler = new Scheduler(ctx, [...schedulerTasks(ctx, deps), ...(deps.extraTasks ?? [])], opts);
  scheduler.start();
  return scheduler;
}
