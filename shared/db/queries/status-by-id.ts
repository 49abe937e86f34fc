import type { Db } from '../client.js';

/**
 * The status test of a statement that reaches its rows by id (`… where j.id = any($ids) and
 * ${statusIn(db, 'j.status', ['queued', 'running'])}`), written `(… in (…)) is true` so the planner
 * cannot answer it from the partial indexes on live jobs and open holds. Their row estimates come
 * from statistics that a burst leaves stale: with 14,000 jobs queued since the last analyze, still
 * estimated at a hundred, a statement for 50 jobs scanned every live one and hash-joined them
 * (10 ms instead of 0.2; each statement of a backlog paid for the whole backlog). By id, the
 * primary key is always the right path, and `is true` changes nothing else: status is never null.
 */
export function statusIn(db: Db, column: string, statuses: readonly string[]) {
  if (!/^([a-z_]+\.)?status$/.test(column) || !statuses.every((s) => /^[a-z_]+$/.test(s)))
    throw new Error(`statusIn: unexpected ${column} / ${statuses.join(',')}`);
  return db.unsafe(`(${column} in (${statuses.map((s) => `'${s}'`).join(', ')})) is true`);
}
