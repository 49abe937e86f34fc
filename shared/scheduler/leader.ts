import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Context } from '../context.js';
import { errOrOutage } from '../redis/outage-log.js';

/**
 * One leader among scheduler replicas: a Redis key set with `SET NX PX` holding this process's
 * token, renewed by its holder only (a Lua compare-and-extend), released on shutdown. If the leader
 * dies its lock expires after the TTL and the next replica to ask takes over. Leadership is only a
 * way to avoid doing work twice: every task is idempotent, so a stale leader finishing a task while
 * a new one starts it costs time, never correctness.
 */
export class LeaderLock {
  readonly token = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  private readonly key: string;
  /** Local belief, valid until this `performance.now()` instant; 0 when the last call found it not ours. */
  private heldUntil = 0;

  constructor(
    private readonly ctx: Context,
    private readonly ttlMs: number,
  ) {
    this.key = `${ctx.config.REDIS_PREFIX}:sched:leader`;
  }

  /**
   * Renew the lock if held, else try to take it. False on any Redis error: a task then waits.
   * Calls made while one is in flight (tasks ticking in the same second) share its answer: two
   * racing SET NX would leave the loser believing the lock another's, though it holds our token.
   */
  acquireOrRenew(): Promise<boolean> {
    this.asking ??= this.ask().finally(() => {
      this.asking = undefined;
    });
    return this.asking;
  }

  private asking: Promise<boolean> | undefined;
  private saidStandby = false;

  private async ask(): Promise<boolean> {
    const started = performance.now();
    try {
      // Renewed whenever Redis holds our token, whatever this process believed: a belief lost
      // (a failed call) must not leave the lock held and unused until it expires.
      let ok = (await this.ctx.scripts.run('renewLock', [this.key], [this.token, this.ttlMs])) === 1;
      if (!ok) ok = (await this.ctx.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
      // Count the TTL from before the round trip, and keep a margin for clock drift between hosts.
      const was = this.heldUntil > 0;
      this.heldUntil = ok ? started + this.ttlMs * 0.8 : 0;
      // Which replica leads, and since when, is what an operator looks for first.
      if (ok && !was) this.ctx.logger.info({ holder: this.token }, 'scheduler: this process leads');
      if (!ok && was) this.ctx.logger.warn({ holder: this.token }, 'scheduler: this process no longer leads');
      // A replica that never led says so once, naming the one that does: silence read as broken.
      if (!ok && !was && !this.saidStandby) {
        this.saidStandby = true;
        const leader = await this.ctx.redis.get(this.key);
        this.ctx.logger.info({ holder: this.token, leader }, 'scheduler: standing by, another process leads');
      }
      return ok;
    } catch (err) {
      this.ctx.logger.warn({ ...errOrOutage(this.ctx.redis, err) }, 'scheduler leader lock unavailable');
      // Said as a renewal's refusal says it: after an outage two replicas' last lines both read
      // "this process leads" (ops31).
      if (this.heldUntil > 0)
        this.ctx.logger.warn({ holder: this.token }, 'scheduler: this process no longer leads');
      this.heldUntil = 0;
      return false;
    }
  }

  isLeader(): boolean {
    return performance.now() < this.heldUntil;
  }

  async release(): Promise<void> {
    if (this.heldUntil === 0) return;
    this.heldUntil = 0;
    await this.ctx.scripts.run('releaseLock', [this.key], [this.token]);
  }
}
