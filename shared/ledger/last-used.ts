import type { Db } from '../db/client.js';
import { touchLastUsed, type UsageDelta } from '../db/queries/key-usage-write.js';
import type { Logger } from '../logger.js';
import { onePer } from '../per-owner.js';

/** How often the keys still waiting are tried again. */
const RETRY_MS = 1_000;

/**
 * The `last_used_at` of keys a settlement skipped because another transaction held their rows
 * (addKeyUsage), moved once each row is free: one statement at a time per process, skipping rows
 * still held, each key's latest use kept for the next try. Waiting on a held row instead took a
 * pool connection per settlement batch until the pool ran dry (final21: a row held 25 s stalled
 * every request), and timed out, losing the update it was for.
 */
class LastUsedCatchUp {
  private readonly pending = new Map<string, UsageDelta>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  /** The logger of the latest settlement that handed keys over. */
  private logger: Logger | null = null;

  constructor(private readonly db: Db) {}

  add(deltas: UsageDelta[], logger: Logger): void {
    this.logger = logger;
    for (const d of deltas) {
      const was = this.pending.get(d.childKeyId);
      if (!was || was.lastUsedAt < d.lastUsedAt) this.pending.set(d.childKeyId, d);
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer || this.running || this.pending.size === 0) return;
    this.timer = setTimeout(() => void this.flush(), ms);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    this.timer = null;
    this.running = true;
    const batch = [...this.pending.values()];
    this.pending.clear();
    try {
      const moved = new Set(await touchLastUsed(this.db, batch));
      // Still held: kept, unless a newer use came meanwhile.
      for (const d of batch)
        if (!moved.has(d.childKeyId) && !this.pending.has(d.childKeyId)) this.pending.set(d.childKeyId, d);
    } catch (err) {
      // A pool ended (the process stopping) takes no more tries; anything else is tried again.
      if ((err as { code?: unknown }).code === 'CONNECTION_ENDED') return;
      this.logger?.warn({ err, keys: batch.length }, 'could not move last_used_at; trying again');
      for (const d of batch) if (!this.pending.has(d.childKeyId)) this.pending.set(d.childKeyId, d);
    } finally {
      this.running = false;
      this.schedule(RETRY_MS);
    }
  }
}

/** One catch-up per pool. */
const catchUpOf = onePer((db: Db) => new LastUsedCatchUp(db));

/** Hand the keys a settlement could not touch to this process's catch-up. */
export function catchUpLastUsed(db: Db, logger: Logger, deltas: UsageDelta[]): void {
  if (deltas.length === 0) return;
  catchUpOf(db).add(deltas, logger);
}
