import type { Sql } from '../db/client.js';
import { type AdmittedLine, queueLinesWithHolds } from '../db/queries/batch-lines.js';
import { GroupCommit } from '../group-commit.js';

const writers = new WeakMap<Sql, GroupCommit<AdmittedLine, boolean>>();

/**
 * Admitted batch lines, queued with their holds in groups (see queueLinesWithHolds): a dispatcher
 * run admits its free slots at once, and their writes share one statement and one durable commit
 * instead of a transaction each. Resolves per line: false if it was no longer pending.
 */
export function lineWriterFor(sql: Sql): GroupCommit<AdmittedLine, boolean> {
  let w = writers.get(sql);
  if (!w) {
    w = new GroupCommit((lines) => queueLinesWithHolds(sql, lines));
    writers.set(sql, w);
  }
  return w;
}
