import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { Scheduler, type SchedulerTask } from '../../shared/scheduler/index.js';
import { LeaderLock } from '../../shared/scheduler/leader.js';
import { schedulerTasks } from '../../shared/scheduler/tasks/index.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { capturedLogger } from '../helpers/logs.js';
import { deliveriesOf, schedulerEnv, subscribeAll } from '../helpers/scheduler.js';
import { timedOut, withScriptHook } from '../helpers/script-hooks.js';
import { waitFor } from '../helpers/wait.js';

const clock = new ManualClock('2026-11-26T10:00:00.000Z');
const w = schedulerEnv(clock);

/** A task that counts its runs and takes a little while, like a real one. */
function counting(name: string, cron = '0 0 1 1 *', leaderOnly = true) {
  const runs: number[] = [];
  const task: SchedulerTask = {
    name,
    cron,
    leaderOnly,
    run: async () => {
      runs.push(Date.now());
      await sleep(20);
    },
  };
  return { task, runs };
}

describe('scheduler: one leader among replicas', () => {
  it('two schedulers running every task at once do each task once', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { expiresAt: new Date('2026-11-26T10:00:30.000Z') });
    await subscribeAll(w.env.ctx, f.accountId);
    clock.set('2026-11-26T10:01:00.000Z');
    const a = new Scheduler(w.env.ctx, schedulerTasks(w.env.ctx, { queues: w.queues }), {
      catchUpOnStart: false,
    });
    const b = new Scheduler(w.env.ctx, schedulerTasks(w.env.ctx, { queues: w.queues }), {
      catchUpOnStart: false,
    });
    const [ra, rb] = await Promise.all([a.runAll(), b.runAll()]);
    for (const t of a.tasks) {
      const outcomes = [ra[t.name], rb[t.name]].sort();
      expect(outcomes, t.name).toEqual(['not_leader', 'ran']);
    }
    expect(await deliveriesOf(w.env.ctx, f.accountId, 'key.expired')).toHaveLength(1);
    await a.stop();
    await b.stop();
  });

  it('on real cron ticks only the leader runs; tasks that refresh local state run everywhere', async () => {
    const shared = [counting('tick', '* * * * * *'), counting('tick', '* * * * * *')];
    const local = [counting('local', '* * * * * *', false), counting('local', '* * * * * *', false)];
    const schedulers = [0, 1].map(
      (i) =>
        new Scheduler(w.env.ctx, [shared[i]!.task, local[i]!.task], {
          catchUpOnStart: false,
          lockTtlMs: 2000,
        }),
    );
    try {
      for (const s of schedulers) s.start();
      await waitFor('two ticks', async () => shared[0]!.runs.length + shared[1]!.runs.length >= 2);
      const leader = shared[0]!.runs.length > 0 ? 0 : 1;
      expect(shared[1 - leader]!.runs).toHaveLength(0);
      await waitFor('local ticks everywhere', async () => local.every((l) => l.runs.length >= 1));

      // The leader stops (a deploy): it releases the lock, and the other takes over on its next tick.
      await schedulers[leader]!.stop();
      await waitFor('the other takes over', async () => shared[1 - leader]!.runs.length > 0);
    } finally {
      for (const s of schedulers) await s.stop();
    }
  });

  it('takes over from a leader that died without releasing, once its lock expires', async () => {
    const dead = new Scheduler(w.env.ctx, [counting('t').task], { catchUpOnStart: false, lockTtlMs: 1500 });
    expect(await dead.runTask('t')).toBe('ran');
    const next = new Scheduler(w.env.ctx, [counting('t').task], { catchUpOnStart: false, lockTtlMs: 1500 });
    expect(await next.runTask('t')).toBe('not_leader');
    await sleep(1700); // the dead one never renews
    expect(await next.runTask('t')).toBe('ran');
    // The old leader cannot renew a lock it lost.
    expect(await dead.runTask('t')).toBe('not_leader');
    await next.stop();
  });

  it('a new leader whose tasks tick in the same second runs them all, and keeps the lock', async () => {
    const dead = new Scheduler(w.env.ctx, [counting('t').task], { catchUpOnStart: false, lockTtlMs: 1500 });
    expect(await dead.runTask('t')).toBe('ran');
    await sleep(1700); // the old leader died without releasing; its lock has expired
    const tasks = ['a', 'b', 'c'].map((name) => counting(name));
    const next = new Scheduler(
      w.env.ctx,
      tasks.map((t) => t.task),
      { catchUpOnStart: false, lockTtlMs: 1500 },
    );
    // Three ticks at once race for the free lock: all run, and the lock stays ours after.
    expect(await Promise.all(['a', 'b', 'c'].map((t) => next.runTask(t)))).toEqual(['ran', 'ran', 'ran']);
    expect(await next.runTask('a')).toBe('ran');
    expect(await dead.runTask('t')).toBe('not_leader');
    await next.stop();
  });

  it('logs a run that did something at info, and the idle runs and quiet tasks at debug only', async () => {
    const { logger, lines } = capturedLogger('info');
    const results: unknown[] = [{ expired: 0, emitted: 0 }, { expired: 2, emitted: 2 }, { closed: [] }, 3];
    const tasks: SchedulerTask[] = [
      ...results.map((r, i) => ({ name: `t${i}`, cron: '0 0 1 1 *', run: async () => r })),
      { name: 'refresh', cron: '0 0 1 1 *', quiet: true, run: async () => ({ nodes: 2 }) },
    ];
    const s = new Scheduler({ ...w.env.ctx, logger }, tasks, { catchUpOnStart: false });
    await s.runAll();
    const done = lines.filter((l) => l.msg === 'scheduled task done');
    expect(done.map((l) => [l.task, l.result])).toEqual([
      ['t1', { expired: 2, emitted: 2 }],
      ['t3', 3],
    ]);
    await s.stop();
  });

  it('says when this process starts and stops leading, and when a run outlasts its next ticks (once)', async () => {
    const { logger, lines } = capturedLogger('info');
    let finish!: () => void;
    const slow: SchedulerTask = {
      name: 'slow',
      cron: '0 0 1 1 *',
      run: () =>
        new Promise<void>((r) => {
          finish = r;
        }),
    };
    const s = new Scheduler({ ...w.env.ctx, logger }, [slow], { catchUpOnStart: false, lockTtlMs: 1500 });
    const first = s.runTask('slow');
    await waitFor('running', async () => finish !== undefined);
    const ticks = [s.runTask('slow'), s.runTask('slow')];
    finish();
    expect(await Promise.all([first, ...ticks])).toEqual(['ran', 'busy', 'busy']);
    const said = lines.map((l) => l.msg);
    expect(said.filter((m) => m === 'scheduler: this process leads')).toHaveLength(1);
    expect(said.filter((m) => m?.toString().startsWith('scheduled task still running'))).toHaveLength(1);

    // Another replica takes the lock (this one's expired meanwhile): this one says it lost it.
    await w.env.ctx.redis.set(`${w.env.config.REDIS_PREFIX}:sched:leader`, 'another-replica');
    expect(await s.runTask('slow')).toBe('not_leader');
    expect(lines.at(-1)).toMatchObject({
      level: 40,
      msg: 'scheduler: this process no longer leads',
      holder: s.lock.token, // which replica, by its lock token (host:pid:random)
    });
    await w.env.ctx.redis.del(`${w.env.config.REDIS_PREFIX}:sched:leader`);
    await s.stop();
  });

  it('says it no longer leads when the lock cannot be renewed for a Redis error, as for a refusal', async () => {
    const { logger, lines } = capturedLogger('info');
    let failing = false;
    const ctx = withScriptHook({ ...w.env.ctx, logger }, () => {
      if (failing) throw timedOut();
    });
    const lock = new LeaderLock(ctx, 1500);
    expect(await lock.acquireOrRenew()).toBe(true);
    failing = true;
    expect(await lock.acquireOrRenew()).toBe(false);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'scheduler: this process leads'],
      [40, 'scheduler leader lock unavailable'],
      [40, 'scheduler: this process no longer leads'],
    ]);
    // Said once: still failing, it had already stopped leading.
    expect(await lock.acquireOrRenew()).toBe(false);
    expect(lines.filter((l) => l.msg === 'scheduler: this process no longer leads')).toHaveLength(1);
    failing = false;
    await lock.release();
  });

  it('says in one log line which tasks missed ticks while the process was busy', async () => {
    const { logger, lines } = capturedLogger('info');
    const ticking = [counting('a', '* * * * * *', false), counting('b', '* * * * * *', false)];
    const s = new Scheduler(
      { ...w.env.ctx, logger },
      ticking.map((t) => t.task),
      { catchUpOnStart: false },
    );
    s.start();
    try {
      await waitFor('a tick', async () => ticking[0]!.runs.length > 0);
      // The event loop held for 2.5 s, as a long pause would: node-cron misses the ticks meanwhile.
      const until = Date.now() + 2_500;
      while (Date.now() < until);
      await waitFor('the missed ticks told', async () =>
        lines.some((l) => l.msg?.toString().includes('missed')),
      );
      const told = lines.filter((l) => l.msg?.toString().includes('missed'));
      expect(told).toEqual([
        expect.objectContaining({ level: 40, tasks: expect.arrayContaining(['a', 'b']) }),
      ]);
    } finally {
      await s.stop();
    }
  });

  it('a standby replica says once that it stands by, naming the leader', async () => {
    const leader = new Scheduler(w.env.ctx, [counting('t').task], { catchUpOnStart: false });
    expect(await leader.runTask('t')).toBe('ran');
    const { logger, lines } = capturedLogger('info');
    const standby = new Scheduler({ ...w.env.ctx, logger }, [counting('t').task], { catchUpOnStart: false });
    expect(await standby.runTask('t')).toBe('not_leader');
    expect(await standby.runTask('t')).toBe('not_leader');
    expect(lines.filter((l) => l.msg === 'scheduler: standing by, another process leads')).toEqual([
      expect.objectContaining({ level: 30, holder: standby.lock.token, leader: leader.lock.token }),
    ]);
    await leader.stop();
    await standby.stop();
  });
});
