/**
 * Per-node circuit breaker. `failureThreshold` consecutive failures open it: the node gets no
 * traffic for `cooldownMs`, then one trial request (half-open) decides: success closes it, failure
 * opens it for another cooldown. Times are epoch milliseconds from the pool's injectable clock.
 */

export interface BreakerOptions {
  /** @default 3 */
  failureThreshold?: number;
  /** @default 10_000 */
  cooldownMs?: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What a request may do now: go normally, go as the single half-open trial, or not go. */
export type Admission = 'closed' | 'trial' | 'blocked';

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private open = false;
  private trialInFlight = false;
  private readonly threshold: number;
  private readonly cooldownMs: number;

  constructor(opts: BreakerOptions = {}) {
    this.threshold = opts.failureThreshold ?? 3;
    this.cooldownMs = opts.cooldownMs ?? 10_000;
  }

  admission(nowMs: number): Admission {
    if (!this.open) return 'closed';
    if (this.trialInFlight || nowMs - this.openedAt < this.cooldownMs) return 'blocked';
    return 'trial';
  }

  /** The caller was granted 'trial' and is sending it: no second trial until this one reports. */
  startTrial(): void {
    this.trialInFlight = true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.open = false;
    this.trialInFlight = false;
  }

  /**
   * A deferred call (a stream) is answering: a half-open trial has passed enough to close the
   * breaker now rather than at the stream's end, which may be minutes away while every other
   * request is refused. The failure count stays until the final verdict: a node that then breaks
   * the stream opens again at once.
   */
  onAnswering(): void {
    if (!this.trialInFlight) return;
    this.open = false;
    this.trialInFlight = false;
  }

  onFailure(nowMs: number): void {
    this.failures++;
    // A failed trial re-opens at once; a closed breaker opens at the threshold.
    if (this.trialInFlight || this.failures >= this.threshold) {
      this.open = true;
      this.openedAt = nowMs;
    }
    this.trialInFlight = false;
  }

  /** The request ended without telling us anything (the client aborted): allow another trial. */
  onCancel(): void {
    this.trialInFlight = false;
  }

  /**
   * When it opened, while it is open with no trial in flight (else null): NodePool.pick lets such a
   * node have its trial before the cooldown ends when no node at all may be used.
   */
  get idleOpenSince(): number | null {
    return this.open && !this.trialInFlight ? this.openedAt : null;
  }

  state(nowMs: number): BreakerState {
    if (!this.open) return 'closed';
    return this.trialInFlight || nowMs - this.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}
