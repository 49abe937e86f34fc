import { NO_ANSWER } from './http.js';
import type { LostHoldRecord } from './stack.js';

/**
 * What the soak's clients did and saw, for the checks at the end: the keys' settings over time,
 * the answers that name a hold, the refusals, the Idempotency-Keys and the top-ups. Times are this
 * machine's clock in ms, as the gateway's processes read it too.
 */

/** The settings of a child key that decide admission. `usable` is false while disabled, deleted or expired. */
export interface KeySettings {
  limit_daily_ngonka: bigint | null;
  limit_monthly_ngonka: bigint | null;
  rate_limit_rpm: number | null;
  usable: boolean;
}
export type Setting = keyof KeySettings;

/** A change of one setting: in force from some instant between `sentAt` and `answeredAt`. */
interface Change<V> {
  sentAt: number;
  answeredAt: number;
  value: V;
}

export class KeyHistory {
  private readonly changes: { [S in Setting]: Change<KeySettings[S]>[] } = {
    limit_daily_ngonka: [],
    limit_monthly_ngonka: [],
    rate_limit_rpm: [],
    usable: [],
  };

  constructor(private readonly initial: KeySettings) {}

  /** Changes of one key are made one at a time (World.withKeyLock), so they are in order here. */
  record<S extends Setting>(setting: S, value: KeySettings[S], sentAt: number, answeredAt: number): void {
    (this.changes[setting] as Change<KeySettings[S]>[]).push({ sentAt, answeredAt, value });
  }

  /**
   * Whether an RPM limit may have been set where there was none (a change from none to a number)
   * at some instant of [from, to]: the key's window then took in its requests of the minute before
   * (countRequestsBeforeLimit).
   */
  rpmLimitSetDuring(from: number, to: number): boolean {
    let before = this.initial.rate_limit_rpm;
    for (const c of this.changes.rate_limit_rpm) {
      if (before === null && c.value !== null && c.sentAt <= to && c.answeredAt >= from) return true;
      before = c.value;
    }
    return false;
  }

  /** Every value the setting may have had at some instant of [from, to]. */
  valuesDuring<S extends Setting>(setting: S, from: number, to: number): KeySettings[S][] {
    let current = this.initial[setting];
    const overlapping: KeySettings[S][] = [];
    for (const c of this.changes[setting] as Change<KeySettings[S]>[]) {
      if (c.answeredAt < from) current = c.value;
      else if (c.sentAt <= to) overlapping.push(c.value);
    }
    return [current, ...overlapping];
  }
}

export interface KeyRecord {
  id: string;
  accountId: string;
  history: KeyHistory;
}

/** A sync chat answer: `holdId` when the answer named it (a 200, or a stream's chunks). */
export interface SyncRecord {
  keyId: string;
  status: number;
  /** When the answer (a stream's end) reached the client. */
  answeredAt: number;
  holdId: string | null;
  /** The node's usage as the client saw it, when it saw all of it. */
  usage: { prompt_tokens: number; completion_tokens: number } | null;
}

export interface Refusal {
  keyId: string;
  status: 402 | 429;
  type: string;
  sentAt: number;
  answeredAt: number;
}

/**
 * A crash the soak caused: the api SIGKILLed (its settlement hand-offs not yet sent die with it),
 * or Redis losing the run's keys (the settlement messages still waiting in it are gone).
 */
export interface Disruption {
  kind: 'api' | 'workers' | 'redis';
  at: number;
}

export class Journal {
  readonly disruptions: Disruption[] = [];
  /** What a crash did not recover from while the load ran (a leader lock nobody took over). */
  readonly crashFailures: string[] = [];
  readonly keys = new Map<string, KeyRecord>();
  readonly sync: SyncRecord[] = [];
  readonly refusals: Refusal[] = [];
  /**
   * Inference requests whose connection ended with no answer (an api killed under them, a
   * timeout): each may have been admitted, and taken its key's RPM slot, with no hold to show for
   * it (its write died with the api).
   */
  readonly unanswered: { keyId: string; sentAt: number; answeredAt: number }[] = [];
  /** Child keys a batch was asked for on (answered or not): the workers admit its lines. */
  readonly batchKeys = new Set<string>();
  /**
   * The hold records Redis losses deleted, with when (`lostAt`): a crash orphan among them is known
   * to the checks only by this, and held its key's RPM slot until then.
   */
  readonly lostHoldRecords: (LostHoldRecord & { lostAt: number })[] = [];
  /** Idempotency-Key → the job ids its 202s named. */
  readonly idempotent = new Map<string, Set<string>>();
  /** Account → nGNK credited by top-ups that were answered 201. */
  readonly toppedUp = new Map<string, bigint>();
  /** Account → nGNK of top-ups whose answer never came (they may or may not have been credited). */
  readonly toppedUpMaybe = new Map<string, bigint>();
  /** Outcome counts (`chat 200`, `job 402`, …): the progress line's, reset on each print. */
  private window = new Map<string, number>();
  readonly totals = new Map<string, number>();

  count(kind: string, outcome: string | number): void {
    const k = `${kind} ${outcome}`;
    this.window.set(k, (this.window.get(k) ?? 0) + 1);
    this.totals.set(k, (this.totals.get(k) ?? 0) + 1);
  }

  /** An inference request's answer: a refusal (402/429) or no answer at all are kept. */
  refused(keyId: string, status: number, body: unknown, sentAt: number): void {
    if (status === NO_ANSWER) this.unanswered.push({ keyId, sentAt, answeredAt: Date.now() });
    if (status !== 402 && status !== 429) return;
    const type = (body as { error?: { type?: string } } | null)?.error?.type ?? '';
    this.refusals.push({ keyId, status, type, sentAt, answeredAt: Date.now() });
  }

  topup(accountId: string, amount: bigint, answered: boolean): void {
    const into = answered ? this.toppedUp : this.toppedUpMaybe;
    into.set(accountId, (into.get(accountId) ?? 0n) + amount);
  }

  /** The counts since the last call, grouped by kind: `chat 200=12 402=3 | job 202=5`. */
  takeWindow(): string {
    const byKind = new Map<string, string[]>();
    for (const [k, n] of [...this.window].sort()) {
      const [kind, outcome] = k.split(' ') as [string, string];
      byKind.set(kind, [...(byKind.get(kind) ?? []), `${outcome}=${n}`]);
    }
    this.window = new Map();
    return [...byKind].map(([kind, list]) => `${kind} ${list.join(' ')}`).join(' | ');
  }
}
