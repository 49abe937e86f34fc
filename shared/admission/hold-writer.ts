import { Batcher } from '../batcher.js';
import type { Sql } from '../db/client.js';
import { insertSyncHolds, type NewHold } from '../db/queries/holds.js';

export interface HoldWriter {
  /** Resolves once the hold is written; rejects with its own error if it could not be. */
  add(hold: NewHold): Promise<void>;
  /** Write what waits now, and resolve once nothing is waiting or in flight (shutdown). */
  drain(): Promise<void>;
}

const writers = new WeakMap<Sql, HoldWriter>();

/**
 * The holds of synchronous requests, written in groups (see insertSyncHolds): one writer per
 * connection pool, so every request of the process shares its groups. Sync chat answers without
 * waiting for its hold's write (settleServed), so a hold can wait `waitMs` for company at no cost
 * to the client: at concurrency 1 a 10 ms wait writes a few holds per insert instead of one, which
 * measured 0.46 → 0.24 ms of Postgres CPU and 1.24 → 1.00 ms p50 per request (SYNC_HOLD_WRITE_WAIT_MS).
 * A group that fails is written again hold by hold, so one bad hold fails only its own request.
 */
export function holdWriterFor(sql: Sql, waitMs: number): HoldWriter {
  let w = writers.get(sql);
  if (!w) {
    const batcher = new Batcher<NewHold, Error | null>(
      async (holds) => {
        try {
          await insertSyncHolds(sql, holds);
          return holds.map(() => null);
        } catch (err) {
          if (holds.length === 1) return [asError(err)];
          return Promise.all(
            holds.map((h) =>
              insertSyncHolds(sql, [h]).then(
                () => null,
                (e: unknown) => asError(e),
              ),
            ),
          );
        }
      },
      256,
      waitMs,
    );
    w = {
      async add(hold) {
        const err = await batcher.add(hold);
        if (err) throw err;
      },
      drain: () => batcher.drain(),
    };
    writers.set(sql, w);
  }
  return w;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Write the sync holds still waiting for company (shutdown, before the settlement hand-off drains). */
export async function drainHoldWriter(sql: Sql): Promise<void> {
  await writers.get(sql)?.drain();
}
