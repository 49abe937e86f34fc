/**
 * Collects items from concurrent callers and hands them to `flush` together, when `maxSize` are
 * waiting or `maxWaitMs` after the first arrived. Each caller gets its own item's result. This is
 * how settlement turns thousands of jobs a second into a few transactions.
 *
 * One flush runs at a time: items arriving meanwhile wait for it and go out together right after.
 * Settlement batches all lock the same hot ledger rows (the system accounts), so overlapping
 * flushes only queue on those row locks while each holds a pooled connection, starving everything
 * else that needs Postgres (the api's holds) and growing the pile as load rises.
 */
export class Batcher<T, R> {
  private items: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;

  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly maxSize = 500,
    private readonly maxWaitMs = 5,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.items.push({ item, resolve, reject });
      if (this.flushing) return; // the running flush picks these up when it ends
      if (this.items.length >= this.maxSize) this.run();
      else this.timer ??= setTimeout(() => this.run(), this.maxWaitMs);
    });
  }

  private run(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.items.splice(0, this.maxSize);
    if (batch.length === 0) return;
    this.flushing = true;
    this.flush(batch.map((b) => b.item))
      .then(
        (results) => {
          for (const [i, b] of batch.entries()) b.resolve(results[i] as R);
        },
        (err) => {
          for (const b of batch) b.reject(err);
        },
      )
      .finally(() => {
        this.flushing = false;
        // What arrived during the flush has waited long enough: send it now.
        if (this.items.length > 0) this.run();
      });
  }
}
