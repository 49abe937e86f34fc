import type { Sql } from '../db/client.js';
import { insertSyncHolds, type NewHold } from '../db/queries/holds.js';
import { GroupCommit } from '../group-commit.js';

const writers = new WeakMap<Sql, GroupCommit<NewHold>>();

/**
 * The holds of synchronous requests, written in groups (see GroupCommit and insertSyncHolds): one
 * writer per connection pool, so every request of the process shares its groups.
 */
export function holdWriterFor(sql: Sql): GroupCommit<NewHold> {
  let w = writers.get(sql);
  if (!w) {
    w = new GroupCommit((holds) => insertSyncHolds(sql, holds));
    writers.set(sql, w);
  }
  return w;
}
