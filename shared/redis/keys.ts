/**
 * Redis key names for admission state. Every key of one account shares the hash tag `{a:ID}`, so a
 * Lua script touching them runs on one Redis Cluster slot. All of it is a cache of Postgres and is
 * rebuilt from there when missing (see admission/load-state.ts).
 */
export class AdmissionKeys {
  constructor(private readonly prefix: string) {}

  /**
   * A gateway process's heartbeat (redis/instance.ts): there while it is alive. One hash tag for
   * them all, so reconciliation reads any set of them in one MGET, on one Redis Cluster slot.
   */
  instance(id: string): string {
    return `${this.prefix}:{instances}:${id}`;
  }

  private base(accountId: string): string {
    return `${this.prefix}:{a:${accountId}}`;
  }
  /** Available nGNK: balance minus open holds. */
  balance(accountId: string): string {
    return `${this.base(accountId)}:bal`;
  }
  /**
   * Child key state hash: st, exp, rpm, ld, lm, mk (its management key), v (version), c (the day
   * its counters were loaded for), cg (how many times a load wrote them: put-hold-record-5.lua).
   */
  childKey(accountId: string, keyId: string): string {
    return `${this.base(accountId)}:k:${keyId}`;
  }
  /** Management key state hash: st, v. */
  managementKey(accountId: string, mkId: string): string {
    return `${this.base(accountId)}:mk:${mkId}`;
  }
  /**
   * Rolling 60 s window of admitted requests: hold ids scored by admission ms. Rebuilt from the
   * holds of the last 60 s when lost (admission/rpm-window.ts).
   */
  rpm(accountId: string, keyId: string): string {
    return `${this.base(accountId)}:r:${keyId}`;
  }
  /** Spent + reserved nGNK for a UTC day (`20261126`). */
  day(accountId: string, keyId: string, day: string): string {
    return `${this.base(accountId)}:d:${keyId}:${day}`;
  }
  /** Spent + reserved nGNK for a UTC month (`202611`). */
  month(accountId: string, keyId: string, month: string): string {
    return `${this.base(accountId)}:m:${keyId}:${month}`;
  }
  /** An open hold's reservation, deleted when it resolves so a release applies once. */
  hold(accountId: string, holdId: string): string {
    return `${this.base(accountId)}:h:${holdId}`;
  }
  /**
   * The ids of the account's hold records (a set): a load that rebuilds the balance or a counter
   * finds through it the records of holds its Postgres read saw resolved, to mark, and of holds it
   * did not see at all, to count (admission/held-records.ts).
   */
  heldRecords(accountId: string): string {
    return `${this.base(accountId)}:hs`;
  }
  /**
   * Moves on (load-epoch.lua) whenever a credit or a release finds the balance or a counter it would
   * change missing. A load reads it before it reads Postgres (redis/load-epoch.ts) and writes only
   * if it has not moved since, so no change that read missed is lost (load-balance-n.lua,
   * load-counters-n.lua).
   */
  loadEpoch(accountId: string): string {
    return `${this.base(accountId)}:ep`;
  }
  /**
   * The load epoch of the account's last balance load (load-balance-n.lua): what a hold record
   * keeps of the balance it was admitted against, so the release of a record its index lost gives
   * back only to a balance no load rebuilt since (hold-index.lua). The epoch moves for more than
   * balance loads (a counter found missing moves it too), which would take the balance away needlessly.
   */
  balanceGeneration(accountId: string): string {
    return `${this.base(accountId)}:bg`;
  }
  /** Marks a credit to the balance as applied (a top-up, a referral payout), so a resend is a no-op. */
  credit(accountId: string, creditId: string): string {
    return `${this.base(accountId)}:cr:${creditId}`;
  }
  /**
   * A submission's Idempotency-Key (hashed), per management key: the job or batch it made. A job's
   * name has no kind in it (as before batches took keys), so claims made before keep working.
   */
  idempotency(accountId: string, mkId: string, kind: 'job' | 'batch', keyHash: string): string {
    return `${this.base(accountId)}:idem:${kind === 'job' ? '' : `${kind}:`}${mkId}:${keyHash}`;
  }
  /** Everything of every account, for reconcile --fix. */
  pattern(): string {
    return `${this.prefix}:{a:*`;
  }
}
