import { DEFAULT_MAX_SKEW_NS, type HeaderBag, verifySignedRequest } from '../signing.js';

export type SimAuthMode = 'none' | 'bearer' | 'signed';

export type AuthCheck = (
  headers: HeaderBag,
  body: Uint8Array,
) => { ok: true } | { ok: false; reason: string; status: 400 | 401 };

/** Wall clock in Unix nanoseconds (ms precision is enough against a ±10 s window). */
export function wallNowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Remembers accepted signatures for as long as their timestamp could still pass the window, so a
 * captured request cannot be sent twice. Entries arrive in time order, so expiry prunes from the front.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, bigint>();
  constructor(private readonly windowNs: bigint) {}

  /** Returns false when the signature was already used. */
  claim(signatureHex: string, now: bigint): boolean {
    for (const [sig, expires] of this.seen) {
      if (expires > now) break;
      this.seen.delete(sig);
    }
    if (this.seen.has(signatureHex)) return false;
    // A timestamp accepted now is at most now + window, so it stays valid until now + 2 × window.
    this.seen.set(signatureHex, now + 2n * this.windowNs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

export function createAuthCheck(opts: {
  mode: SimAuthMode;
  bearerToken?: string;
  /** The node's own address: a signed request names it as X-Transfer-Address, or names none. */
  nodeAddress: string;
  maxSkewNs?: bigint;
  now?: () => bigint;
}): AuthCheck {
  if (opts.mode === 'none') return () => ({ ok: true });
  if (opts.mode === 'bearer') {
    if (!opts.bearerToken) throw new Error('bearer auth needs a bearerToken');
    const expected = `Bearer ${opts.bearerToken}`;
    return (headers) =>
      headers.authorization === expected
        ? { ok: true }
        : { ok: false, reason: 'invalid bearer token', status: 401 };
  }
  const skew = opts.maxSkewNs ?? DEFAULT_MAX_SKEW_NS;
  const now = opts.now ?? wallNowNs;
  const guard = new ReplayGuard(skew);
  const publicKeys = new Map<string, Uint8Array>();
  return (headers, body) => {
    const t = now();
    const r = verifySignedRequest({
      headers,
      body,
      now: t,
      transferAddress: opts.nodeAddress,
      maxSkewNs: skew,
      publicKeys,
    });
    if (!r.ok) return r;
    // A real node's words and status for a reused signature (its AuthKey): 400, not 401.
    return guard.claim(r.signatureHex, t)
      ? { ok: true }
      : { ok: false, reason: 'AuthKey has already been used for a transfer request', status: 400 };
  };
}
