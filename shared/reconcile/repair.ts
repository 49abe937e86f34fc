import type { Context } from '../context.js';
import type { Finding, Repair } from './types.js';

/** Run one repair; false when Redis moved since it was read (the caller re-reads and retries). */
async function apply(ctx: Context, r: Repair): Promise<boolean> {
  switch (r.kind) {
    case 'value':
      return (await ctx.scripts.run('casSet', [r.key], [r.current, r.value, r.ttlS])) === 1;
    case 'state':
      return (await ctx.scripts.run('replaceKeyState', [r.key], [r.currentVersion, ...r.fields])) === 1;
    case 'putHold':
      // 0 means a record appeared meanwhile: not ours to overwrite, and not a conflict.
      await ctx.scripts.run('putHoldRecord', [r.key], [r.amount, r.keyId, r.ttlS]);
      return true;
    case 'delHold':
      await ctx.redis.del(r.key);
      return true;
  }
}

export interface RepairOutcome {
  fixed: number;
  restored: number;
  /** A guarded write found Redis changed: the rest of this account was left alone. */
  conflict: boolean;
}

/**
 * Apply findings' repairs in order (hold records, key state and counters, balance last). Every
 * value write is a compare-and-set against what was read, so live traffic between the read and the
 * write makes the write fail instead of being overwritten; on the first such failure the account's
 * remaining repairs wait for a fresh read.
 *
 * What this guards, and what it cannot. Redis is read before Postgres, so a request admitted in
 * between changes the value and the write fails. A drift is repaired only if the same difference
 * was seen on two reads apart, so a settlement or top-up caught between its Postgres commit and its
 * Redis step (milliseconds) is not mistaken for drift. The one window left: such an event commits
 * between this pass's Redis and Postgres reads and applies its Redis step after the write, while the
 * account also has a confirmed drift of exactly the same size; then that step would count twice.
 * Values Redis lacks entirely are written only while still absent, so a concurrent lazy load wins.
 * Rate windows are not rebuilt (they hold 60 s: after a total loss a key may admit up to one more
 * minute of requests), and a lost inference message is re-queued at least once, so a job a worker
 * was still running when Redis was lost may be sent to a node twice (billed once: settlement is
 * idempotent per hold).
 */
export async function applyRepairs(ctx: Context, findings: Finding[]): Promise<RepairOutcome> {
  const out: RepairOutcome = { fixed: 0, restored: 0, conflict: false };
  for (const f of findings) {
    for (const r of f.repairs) {
      if (!(await apply(ctx, r))) {
        out.conflict = true;
        return out;
      }
    }
    if (f.repairs.length === 0) continue;
    if (f.kind === 'drift') out.fixed++;
    else out.restored++;
    ctx.logger.info({ check: f.check, subject: f.subject, kind: f.kind }, 'reconcile repaired');
  }
  return out;
}
