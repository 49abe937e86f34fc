import { type ScheduledTask, schedule, validate } from 'node-cron';
import type { Context } from '../context.js';
import { recordTaskRun } from '../metrics/registry.js';
import { LeaderLock } from './leader.js';

export interface SchedulerTask {
  name: string;
  /** node-cron expression, evaluated in UTC. */
  cron: string;
  /**
   * Leader-only tasks run on one replica at a time. Tasks that refresh this process's own memory
   * (prices, nodes) run everywhere. @default true
   */
  leaderOnly?: boolean;
  /** Its runs are logged at debug even when they did something (it refreshes memory, often). */
  quiet?: boolean;
  run(): Promise<unknown>;
}

export type RunOutcome = 'ran' | 'failed' | 'not_leader' | 'busy' | 'stopped';

export interface SchedulerOptions {
  /** @default config.SCHEDULER_LOCK_TTL_MS */
  lockTtlMs?: number;
  /** Run every task once right after start, to catch up on what happened while no scheduler ran. @default true */
  catchUpOnStart?: boolean;
}

/**
 * The scheduler role: node-cron fires each task on its schedule; a leader-only task runs only while
 * this process holds the leader lock; a task never overlaps itself in one process. Failures are
 * logged and counted, never thrown: the next tick tries again, and every task catches up on
 * everything it missed (expiries past due, periods not closed), so a late or skipped run is harmless.
 */
export class Scheduler {
  readonly lock: LeaderLock;
  private readonly crons: ScheduledTask[] = [];
  private readonly running = new Map<string, Promise<RunOutcome>>();
  /** Tasks whose run in flight has already been reported as outlasting a tick. */
  private readonly overdue = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly ctx: Context,
    readonly tasks: SchedulerTask[],
    private readonly opts: SchedulerOptions = {},
  ) {
    for (const t of tasks)
      if (!validate(t.cron)) throw new Error(`scheduler task ${t.name}: invalid cron expression "${t.cron}"`);
    this.lock = new LeaderLock(ctx, opts.lockTtlMs ?? ctx.config.SCHEDULER_LOCK_TTL_MS);
  }

  start(): void {
    const ttl = this.opts.lockTtlMs ?? this.ctx.config.SCHEDULER_LOCK_TTL_MS;
    // Renew well inside the TTL so a busy leader keeps its lock between ticks.
    this.renewTimer = setInterval(() => void this.lock.acquireOrRenew(), Math.max(ttl / 3, 100));
    this.renewTimer.unref();
    for (const t of this.tasks) {
      const cron = schedule(t.cron, () => this.runTask(t.name).then(() => undefined), {
        name: t.name,
        timezone: 'UTC',
      });
      // Ticks the process was too busy (or paused) to take: node-cron would print a coloured text
      // line per tick into the JSON log. One structured line per stall instead; every task catches
      // up on its next tick (each run does all that is due).
      cron.on('execution:missed', () => this.noteMissed(t.name));
      this.crons.push(cron);
    }
    if (this.opts.catchUpOnStart ?? true) setImmediate(() => void this.runAll());
  }

  private missed: { tasks: Set<string>; timer: NodeJS.Timeout } | null = null;

  private noteMissed(task: string): void {
    if (this.missed) {
      this.missed.tasks.add(task);
      return;
    }
    const missed = { tasks: new Set([task]), timer: setTimeout(() => this.reportMissed(), 1_000) };
    missed.timer.unref();
    this.missed = missed;
  }

  private reportMissed(): void {
    const tasks = [...(this.missed?.tasks ?? [])];
    this.missed = null;
    this.ctx.logger.warn(
      { tasks },
      'scheduler: ticks missed (the process was busy or paused); the tasks catch up on their next tick',
    );
  }

  /** Run one task now (what a cron tick does). */
  runTask(name: string): Promise<RunOutcome> {
    const task = this.tasks.find((t) => t.name === name);
    if (!task) throw new Error(`no scheduler task ${name}`);
    const inFlight = this.running.get(name);
    if (inFlight) {
      // Once per run: a run outlasting its ticks (a lock held elsewhere, a huge backlog) shows.
      if (!this.overdue.has(name)) {
        this.overdue.add(name);
        this.ctx.logger.warn(
          { task: name },
          'scheduled task still running at its next tick; ticks skipped until it ends',
        );
      }
      return inFlight.then(() => 'busy' as const);
    }
    const p = this.execute(task).finally(() => {
      this.running.delete(name);
      this.overdue.delete(name);
    });
    this.running.set(name, p);
    return p;
  }

  /** Every task once, in order: the catch-up after start, and what tests drive. */
  async runAll(): Promise<Record<string, RunOutcome>> {
    const out: Record<string, RunOutcome> = {};
    for (const t of this.tasks) out[t.name] = await this.runTask(t.name);
    return out;
  }

  private async execute(task: SchedulerTask): Promise<RunOutcome> {
    if (this.stopping) return 'stopped';
    if ((task.leaderOnly ?? true) && !(await this.lock.acquireOrRenew())) return 'not_leader';
    const log = this.ctx.logger.child({ task: task.name });
    const started = performance.now();
    try {
      const result = await task.run();
      recordTaskRun(task.name, true);
      // A run that did something (expired keys, closed a day, voided holds) is worth an operator's
      // eye; the many that found nothing to do are not.
      const ms = Math.round(performance.now() - started);
      const level = ms >= SLOW_RUN_MS ? 'warn' : !task.quiet && didWork(result) ? 'info' : 'debug';
      log[level]({ result, ms }, 'scheduled task done');
      return 'ran';
    } catch (err) {
      recordTaskRun(task.name, false);
      log.error({ err }, 'scheduled task failed');
      return 'failed';
    }
  }

  /** Stop firing, let running tasks finish, give up leadership. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.renewTimer) clearInterval(this.renewTimer);
      if (this.missed) clearTimeout(this.missed.timer);
      for (const c of this.crons) {
        try {
          await c.destroy();
        } catch (err) {
          this.ctx.logger.warn({ err }, 'stopping a cron task failed');
        }
      }
      await Promise.allSettled(this.running.values());
      try {
        await this.lock.release();
      } catch (err) {
        this.ctx.logger.warn({ err }, 'releasing the leader lock failed');
      }
    })();
    return this.stopping;
  }
}

/** A run this long is logged at warn, whatever it did: every task's usual run takes milliseconds. */
const SLOW_RUN_MS = 30_000;

/** Whether a task's result reports work done: a count above zero or a list with something in it. */
function didWork(result: unknown): boolean {
  if (typeof result === 'number') return result > 0;
  if (Array.isArray(result)) return result.length > 0;
  if (result && typeof result === 'object') return Object.values(result).some(didWork);
  return false;
}
