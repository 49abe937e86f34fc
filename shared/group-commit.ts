import { Batcher } from './batcher.js';

/** A write returns one result per item, in order, unless its callers get nothing (R undefined). */
type Written<R> = [R] extends [undefined] ? unknown : R[];

/**
 * Writes items in groups, the way a database does group commit: an item arriving while no write
 * is running is written at once (a lone request waits for nobody), and every item arriving during
 * a write goes out together in the next one. Under load, many concurrent requests cost a few round
 * trips instead of one each. A failed group is retried item by item, so one bad item fails only
 * its own caller. It is a Batcher that waits for no company (`waitMs` 0), for the request path; a
 * caller that is not waiting on the write may give it a `waitMs` (sync chat's holds).
 * A write may return one result per item, in order; each caller gets its own.
 */
export class GroupCommit<T, R = undefined> extends Batcher<T, R> {
  constructor(
    write: (items: T[]) => Promise<Written<R>>,
    /** Most items in one write. @default 256 */
    maxGroup = 256,
    /** How long a lone item waits for company. @default 0 */
    waitMs = 0,
  ) {
    super(
      async (items) => ((await write(items)) as R[] | undefined) ?? items.map(() => undefined as R),
      maxGroup,
      waitMs,
      { retryEach: true },
    );
  }
}
