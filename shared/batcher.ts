/**
 * Collects items from concurrent callers and hands them to `flush` together, when `maxSize` are
 * waiting or `maxWaitMs` after the first arrived. Each caller gets its own item's result. This is
 * how settlement turns thousands of jobs a second into a few transactions.
 *
 * One flush runs at a time: items arriving meanwhile wait for it and go out together right after,
 * or, if only a few came, once the oldest of them has waited `maxWaitMs` (a transaction for a
 * handful of items costs nearly what one for hundreds does). Settlement batches all lock the same
 * hot ledger rows (the system accounts), so overlapping flushes only queue on those row locks
 * while each holds a pooled connection, starving everything else that needs Postgres (the api's
 * holds) and growing the pile as load rises.
 *
 * With `retryEach`, a failed flush is tried again item by item, so one bad item fails only its own
 * caller; otherwise every caller of the batch gets its error.
 */
export class Batcher<T, R> {
  private items: { item: T; at: number; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** The items of the running flush, until it (and any item-by-item retry) has ended. */
  private inFlight: T[] = [];

  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly maxSize = 500,
    private readonly maxWaitMs = 5,
    private readonly opts: { retryEach?: boolean } = {},
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.items.push({ item, at: performance.now(), resolve, reject });
      if (this.flushing) return; // the running flush schedules these when it ends
      this.schedule();
    });
  }

  private schedule(): void {
    const wait = this.items[0]!.at + this.maxWaitMs - performance.now();
    if (this.items.length >= this.maxSize || wait <= 0) this.run();
    else this.timer ??= setTimeout(() => this.run(), wait);
  }

  /**
   * Hand everything waiting to `flush` now, without waiting for company, and resolve once nothing
   * is waiting or in flight: a process shutting down must not drop what callers were promised.
   */
  async drain(): Promise<void> {
    while (this.items.length > 0 || this.flushing) {
      if (!this.flushing) this.run();
      await this.flushing;
    }
  }

  /** Every item not flushed yet: in the running flush, then those waiting (settleUnhanded). */
  pending(): T[] {
    return [...this.inFlight, ...this.items.map((b) => b.item)];
  }

  private run(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.items.splice(0, this.maxSize);
    if (batch.length === 0) return;
    this.inFlight = batch.map((b) => b.item);
    this.flushing = this.flush(this.inFlight)
      .then(
        (results) => {
          for (const [i, b] of batch.entries()) b.resolve(results[i] as R);
        },
        async (err) => {
          if (!this.opts.retryEach || batch.length === 1) {
            for (const b of batch) b.reject(err);
            return;
          }
          await Promise.all(
            batch.map((b) => this.flush([b.item]).then((r) => b.resolve(r[0] as R), b.reject)),
          );
        },
      )
      .finally(() => {
        this.flushing = null;
        this.inFlight = [];
        if (this.items.length > 0) this.schedule();
      });
  }
}
