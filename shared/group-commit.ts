type Waiter<T> = { item: T; resolve: () => void; reject: (err: unknown) => void };

/**
 * Writes items in groups, the way a database does group commit: an item arriving while no write
 * is running is written at once (a lone request waits for nobody), and every item arriving during
 * a write goes out together in the next one. Under load, many concurrent requests cost a few round
 * trips instead of one each. A failed group is retried item by item, so one bad item fails only
 * its own caller. Unlike Batcher, it never waits for company: it is for the request path.
 */
export class GroupCommit<T> {
  private pending: Waiter<T>[] = [];
  private running = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    /** Most items in one write. @default 256 */
    private readonly maxGroup = 256,
  ) {}

  add(item: T): Promise<void> {
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
          await this.write(group.map((w) => w.item));
          for (const w of group) w.resolve();
        } catch (err) {
          if (group.length === 1) group[0]?.reject(err);
          else await Promise.all(group.map((w) => this.write([w.item]).then(w.resolve, w.reject)));
        }
      }
    } finally {
      this.running = false;
    }
  }
}
