import { createHmac } from 'node:crypto';
import type { Sql } from '../db/client.js';
import { findInstanceSecret } from '../db/queries/instance-secrets.js';

const ROUNDS = 6;
const MASK32 = 0xffff_ffffn;
/** The largest posting id Postgres can hold (bigint): a legacy id past it names no entry. */
const MAX_POSTING_ID = 9_223_372_036_854_775_807n;

/**
 * A ledger entry's id at the edge, `le_` and 11 base64url characters: its posting's serial through
 * a keyed permutation of 64-bit numbers (a Feistel network whose rounds are HMAC-SHA256 under this
 * deployment's secret), so an id says nothing of how many postings the whole gateway made before
 * it (API.md: ids are opaque), yet decodes back to the serial a lookup or a cursor needs. Ids made
 * before this (`le_` and the serial in decimal) are still read, so stored ones keep working, but
 * only below `legacyBelow` (migration 032: the postings there were then), or any decimal id would
 * let an account bisect the gateway's count: the two forms never meet (11 decimal digits would be
 * the ten-billionth posting).
 */
export class EntryIds {
  constructor(
    private readonly key: Buffer,
    /** Decimal ids name postings below this serial only (0: none, a database made after 029). */
    private readonly legacyBelow = 0n,
  ) {}

  encode(serial: bigint): string {
    let [l, r] = [(serial >> 32n) & MASK32, serial & MASK32];
    for (let i = 0; i < ROUNDS; i++) [l, r] = [r, l ^ this.round(i, r)];
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE((l << 32n) | r);
    return `le_${bytes.toString('base64url')}`;
  }

  /** The serial an entry id names; null when it names none. */
  decode(id: string): bigint | null {
    const opaque = /^le_([A-Za-z0-9_-]{11})$/.exec(id);
    if (opaque) {
      const bytes = Buffer.from(opaque[1]!, 'base64url');
      if (bytes.length !== 8 || bytes.toString('base64url') !== opaque[1]) return null;
      const n = bytes.readBigUInt64BE();
      let [l, r] = [n >> 32n, n & MASK32];
      for (let i = ROUNDS - 1; i >= 0; i--) [l, r] = [r ^ this.round(i, l), l];
      const serial = (l << 32n) | r;
      return serial <= MAX_POSTING_ID ? serial : null;
    }
    const legacy = /^le_(\d{1,19})$/.exec(id);
    const serial = legacy?.[1] ? BigInt(legacy[1]) : null;
    return serial !== null && serial < this.legacyBelow && serial <= MAX_POSTING_ID ? serial : null;
  }

  private round(i: number, half: bigint): bigint {
    const input = Buffer.alloc(5);
    input.writeUInt8(i, 0);
    input.writeUInt32BE(Number(half), 1);
    return BigInt(createHmac('sha256', this.key).update(input).digest().readUInt32BE(0));
  }
}

const loaded = new WeakMap<Sql, Promise<EntryIds>>();

/** This deployment's entry ids, its secret read once per pool. */
export function entryIdsOf(sql: Sql): Promise<EntryIds> {
  let ids = loaded.get(sql);
  if (!ids) {
    ids = Promise.all([
      findInstanceSecret(sql, 'ledger_entry_ids'),
      findInstanceSecret(sql, 'legacy_entry_ids_below'),
    ]).then(([secret, legacyBelow]) => {
      if (!secret || legacyBelow === null)
        throw new Error('instance_secrets lacks the ledger entry ids’ settings: run the migrations');
      return new EntryIds(Buffer.from(secret, 'utf8'), BigInt(legacyBelow));
    });
    ids.catch(() => loaded.delete(sql)); // read again next time
    loaded.set(sql, ids);
  }
  return ids;
}
