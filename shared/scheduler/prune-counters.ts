import type { Context } from '../context.js';

/**
 * Delete Redis period counters of periods before the cutoffs (`YYYYMMDD`, `YYYYMM`): periods that
 * are closed, so no hold of theirs is open and nothing will ever release into them again. Admission
 * only reads the current period, so this changes no decision; it frees memory before the TTLs do.
 * One SCAN over the admission keys; returns how many counters went.
 */
export async function prunePeriodCounters(
  ctx: Context,
  cutoff: { day: string; month: string },
): Promise<number> {
  const match = `${ctx.config.REDIS_PREFIX}:{a:*}:[dm]:*`;
  const counter = /:([dm]):[^:]+:(\d{6}|\d{8})$/;
  let cursor = '0';
  let pruned = 0;
  do {
    const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    const old = keys.filter((k) => {
      const m = counter.exec(k);
      if (!m) return false;
      return m[1] === 'd'
        ? m[2]!.length === 8 && m[2]! < cutoff.day
        : m[2]!.length === 6 && m[2]! < cutoff.month;
    });
    if (old.length) pruned += await ctx.redis.unlink(...old);
  } while (cursor !== '0');
  return pruned;
}
