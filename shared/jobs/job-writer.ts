import type { Sql } from '../db/client.js';
import type { NewHold } from '../db/queries/holds.js';
import { insertJobsWithHolds, type NewJob } from '../db/queries/jobs.js';
import { GroupCommit } from '../group-commit.js';

export interface JobWithHold {
  hold: NewHold;
  job: NewJob;
}

const writers = new WeakMap<Sql, GroupCommit<JobWithHold>>();

/**
 * Accepted async jobs, written with their holds in groups (see GroupCommit and
 * insertJobsWithHolds): one statement and one durable commit for every job accepted while the
 * last write was in flight, one writer per connection pool.
 */
export function jobWriterFor(sql: Sql): GroupCommit<JobWithHold> {
  let w = writers.get(sql);
  if (!w) {
    w = new GroupCommit((rows) => insertJobsWithHolds(sql, rows));
    writers.set(sql, w);
  }
  return w;
}
