import type { Context } from '../context.js';

/**
 * When a scheduler task last ran to its end, kept in Redis (`<prefix>:sched:<task>:since`), for a
 * task that looks at what happened since then. Lost with Redis, the task looks as far back as it
 * would on its first run; its events' dedupe keys make a second look harmless.
 */
export function taskWatermark(ctx: Context, task: string) {
  const key = `${ctx.config.REDIS_PREFIX}:sched:${task}:since`;
  return {
    /** The last run, or null: never, or ahead of `now` (a clock that moved back is not trusted). */
    async lastRun(now: Date): Promise<Date | null> {
      const mark = Number((await ctx.redis.get(key)) ?? Number.NaN);
      return Number.isFinite(mark) && mark <= now.getTime() ? new Date(mark) : null;
    },
    async ranAt(now: Date): Promise<void> {
      await ctx.redis.set(key, String(now.getTime()));
    },
  };
}
