/** An attempt's length before any of its account's attempts has ended here: a guess, soon replaced. */
const FIRST_GUESS_MS = 100;
/** The longest an attempt turned away waits before it asks again. */
const MAX_WAIT_MS = 2_000;
/** How far each ended attempt moves its account's average length (an exponential moving average). */
const WEIGHT = 0.2;

interface Account {
  inFlight: number;
  /** How long its attempts take, on average. */
  avgMs: number;
  /** When the last attempt turned away was told to come back (ms since the epoch). */
  lastTurnAt: number;
}

/**
 * Webhook attempts in flight in one workers process, by share (an account's, or a part of it: see
 * deliver.ts sharesOf), each held to its cap (by default `perAccount`, WEBHOOK_ACCOUNT_CONCURRENCY)
 * so that one account's silent receivers cannot take every slot. An attempt past its share's cap
 * is turned away (delayed in the queue) until a slot is likely free: the share's attempts end
 * about every avgMs / cap, so each one turned away comes back one such step after the one before
 * it. A backlog to a fast receiver drains at the receiver's pace (a fixed 2 s wait drained it in
 * waves: ~11 deliveries/s through 8 slots of 25 ms attempts); one to a silent receiver, whose
 * attempts last their whole timeout, comes back every MAX_WAIT_MS, as slowly as before.
 */
export class AccountSlots {
  private readonly accounts = new Map<string, Account>();

  constructor(readonly perAccount: number) {}

  /** How many shares it keeps figures for: those busy, or with an attempt due back. */
  get size(): number {
    return this.accounts.size;
  }

  /**
   * A slot of this share for an attempt (null: taken), or how many ms to wait before asking again.
   * `nowMs` is any monotonic clock's, the same in every call.
   */
  take(share: string, nowMs: number, cap = this.perAccount): number | null {
    let a = this.accounts.get(share);
    if (!a) {
      a = { inFlight: 0, avgMs: FIRST_GUESS_MS, lastTurnAt: 0 };
      this.accounts.set(share, a);
    }
    if (a.inFlight < cap) {
      a.inFlight++;
      return null;
    }
    // At least 1 ms apart: each turn away costs a read and a queue move. At most MAX_WAIT_MS
    // ahead: an average taken while attempts were slow (a cold start, a receiver that recovered)
    // must not set a backlog's pace for long; those past it come back then and are paced anew.
    const step = Math.max(1, a.avgMs / cap);
    a.lastTurnAt = Math.min(Math.max(nowMs, a.lastTurnAt) + step, nowMs + MAX_WAIT_MS);
    return Math.ceil(a.lastTurnAt - nowMs);
  }

  /** An attempt that took a slot ended after `tookMs`. */
  give(share: string, tookMs: number, nowMs: number): void {
    const a = this.accounts.get(share);
    if (!a) return;
    a.avgMs += WEIGHT * (tookMs - a.avgMs);
    this.release(share, nowMs);
  }

  /** A slot taken for an attempt that was not made after all (another share's was full). */
  release(share: string, nowMs: number): void {
    const a = this.accounts.get(share);
    if (!a) return;
    a.inFlight--;
    // Forgotten once idle with no attempt still due back: the map holds busy shares only.
    if (a.inFlight <= 0 && a.lastTurnAt <= nowMs) this.accounts.delete(share);
  }
}
