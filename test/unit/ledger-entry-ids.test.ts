import { describe, expect, it } from 'vitest';
import { EntryIds } from '../../shared/ledger/entry-ids.js';

const ids = new EntryIds(Buffer.from('a deployment secret, 64 hex characters or so, any bytes will do'));

describe('ledger entry ids', () => {
  it('decode back to their serial, for small, large and the largest serials', () => {
    for (const serial of [1n, 2n, 3n, 41n, 1_000_000n, 2n ** 40n + 7n, 9_223_372_036_854_775_807n]) {
      const id = ids.encode(serial);
      expect(id).toMatch(/^le_[A-Za-z0-9_-]{11}$/);
      expect(ids.decode(id)).toBe(serial);
    }
  });

  it('say nothing of their order or of how many came before', () => {
    const made = Array.from({ length: 200 }, (_, i) => ids.encode(BigInt(i + 1)));
    expect(new Set(made).size).toBe(200);
    // Sorted as strings they are not in serial order, and no id holds its serial's digits.
    expect([...made].sort()).not.toEqual(made);
    for (const [i, id] of made.entries()) expect(id).not.toContain(String(i + 1).padStart(3, '0'));
    // Another deployment's secret makes other ids, which this one reads as other serials or none.
    const other = new EntryIds(Buffer.from('another deployment'));
    expect(other.encode(1n)).not.toBe(ids.encode(1n));
    expect(ids.decode(other.encode(1n))).not.toBe(1n);
  });

  it('still read the ids made before they were opaque (le_ and the serial), and only those', () => {
    const secret = Buffer.from('a database that made 41 postings before its ids were opaque');
    const upgraded = new EntryIds(secret, 42n);
    expect(upgraded.decode('le_5')).toBe(5n);
    expect(upgraded.decode('le_41')).toBe(41n);
    // Postings made since never had such an id: read, any would tell the gateway's count.
    expect(upgraded.decode('le_42')).toBeNull();
    expect(upgraded.decode('le_9223372036854775808')).toBeNull(); // past Postgres's bigint
    // A database made after the change reads none.
    expect(ids.decode('le_5')).toBeNull();
    expect(new EntryIds(secret, 2n ** 64n).decode('le_9223372036854775807')).toBe(9_223_372_036_854_775_807n);
  });

  it('read nothing else', () => {
    const id = ids.encode(77n);
    // The 11th character carries 4 bits in its top four: with a low bit set it spells the same
    // bytes another way, which is no id.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = id.slice(0, -1) + alphabet[alphabet.indexOf(id.at(-1)!) | 1];
    for (const junk of ['le_', 'le_-1', 'le_abc', 'x', `${id}A`, `ck_${id.slice(3)}`, respelled])
      expect(ids.decode(junk)).toBeNull();
  });
});
