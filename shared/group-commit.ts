type Waiter<T, R> = { item: T; resolve: (r: R) => void; reject: (err: unknown) => void };
/** A write returns one result per item, in order, unless its callers get nothing (R undefined). */
type Written<R> = [R] extends [undefined] ? unknown : R[];

/**
 * Writes items in groups, the way a database does group commit: an item arriving while no write
 * is running is written at once (a lone request waits for nobody), and every item arriving during
 * a write goes out together in the next one. Under load, many concurrent requests cost a few round
 * trips instead of one each. A failed group is retried item by item, so one bad item fails only
 * its own caller. Unlike Batcher, it never waits for company: it is for the request path.
 * A write may return one result per item, in order; each caller gets its own.
 */
export class GroupCommit<T, R = undefined> {
  private pending: Waiter<T, R>[] = [];
  private running = false;

  constructor(
    private readonly write: (items: T[]) => Promise<Written<R>>,
    /** Most items in one write. @default 256 */
    private readonly maxGroup = 256,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const group = this.pending.splice(0, this.maxGroup);
        try {
          const results = (await this.write(group.map((w) => w.item))) as R[] | undefined;
          for (const [i, w] of group.entries()) w.resolve(results?.[i] as R);
        } catch (err) {
          if (group.length === 1) group[0]?.reject(err);
          else
            await Promise.all(
              group.map((w) =>
                this.write([w.item]).then((r) => w.resolve((r as R[] | undefined)?.[0] as R), w.reject),
              ),
            );
        }
      }
    } finally {
      this.running = false;
    }
  }
}
