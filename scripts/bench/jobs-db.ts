import type { Redis } from 'ioredis';
import type { Sql } from '../../shared/db/client.js';

/** What bench:jobs reads back from the books: Postgres is the record of what finished and when. */

export interface JobsProgress {
  total: number;
  succeeded: number;
  failed: number;
  /** Latest completion (ms since epoch), null before any. */
  lastCompletedMs: number | null;
}

/**
 * Jobs of the account not finished yet, and holds still open: what the benchmark asks once the
 * queues look idle. The full counts below scan every row of the run and are read once, at the end
 * (polled, they took a third of a core from the very pipeline being measured).
 */
export async function unfinished(sql: Sql, accountId: string): Promise<{ jobs: number; holds: number }> {
  const [r] = await sql<{ jobs: number; holds: number }[]>`
    select (select count(*) from jobs
             where status in ('queued', 'running') and account_id = ${accountId})::int as jobs,
           (select count(*) from holds where status = 'open' and account_id = ${accountId})::int as holds`;
  return r ?? { jobs: 0, holds: 0 };
}

export async function jobsProgress(sql: Sql, accountId: string): Promise<JobsProgress> {
  const [r] = await sql<{ total: number; succeeded: number; failed: number; last: Date | null }[]>`
    select count(*)::int as total,
           count(*) filter (where status = 'succeeded')::int as succeeded,
           count(*) filter (where status in ('failed', 'cancelled', 'expired'))::int as failed,
           max(completed_at) as last
    from jobs where account_id = ${accountId} and batch_id is null`;
  return {
    total: r?.total ?? 0,
    succeeded: r?.succeeded ?? 0,
    failed: r?.failed ?? 0,
    lastCompletedMs: r?.last ? r.last.getTime() : null,
  };
}

export interface SettlementFacts {
  open: number;
  resolved: number;
  /** Earliest and latest resolution (ms since epoch). */
  firstResolvedMs: number | null;
  lastResolvedMs: number | null;
  /** From a job's completion (when its settlement was enqueued) to its hold resolving. */
  lagP50Ms: number | null;
  lagP99Ms: number | null;
}

export async function settlementFacts(sql: Sql, accountId: string): Promise<SettlementFacts> {
  const [r] = await sql<
    {
      open: number;
      resolved: number;
      first: Date | null;
      last: Date | null;
      p50: number | null;
      p99: number | null;
    }[]
  >`
    select count(*) filter (where h.status = 'open')::int as open,
           count(*) filter (where h.status <> 'open')::int as resolved,
           min(h.resolved_at) as first, max(h.resolved_at) as last,
           percentile_cont(0.5) within group (order by extract(epoch from h.resolved_at - j.completed_at) * 1000) as p50,
           percentile_cont(0.99) within group (order by extract(epoch from h.resolved_at - j.completed_at) * 1000) as p99
    from holds h left join jobs j on j.hold_id = h.id
    where h.account_id = ${accountId}`;
  return {
    open: r?.open ?? 0,
    resolved: r?.resolved ?? 0,
    firstResolvedMs: r?.first ? r.first.getTime() : null,
    lastResolvedMs: r?.last ? r.last.getTime() : null,
    lagP50Ms: r?.p50 ?? null,
    lagP99Ms: r?.p99 ?? null,
  };
}

export interface RedisFootprint {
  keys: number;
  bytes: number;
  /** Finished jobs BullMQ still keeps, per queue (bounded by removeOnComplete). */
  completedKept: Record<string, number>;
}

/** Every key under the run's prefix, with MEMORY USAGE: other users of this Redis do not count. */
export async function redisFootprint(redis: Redis, prefix: string): Promise<RedisFootprint> {
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys += batch.length;
    const sizes = await Promise.all(batch.map((k) => redis.memory('USAGE', k)));
    for (const s of sizes) bytes += Number(s ?? 0);
  } while (cursor !== '0');
  const completedKept: Record<string, number> = {};
  for (const q of ['inference', 'settlement'])
    completedKept[q] = await redis.zcard(`${prefix}:bull:${q}:completed`);
  return { keys, bytes, completedKept };
}
