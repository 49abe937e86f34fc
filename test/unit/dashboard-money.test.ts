import { describe, expect, it } from 'vitest';

/** The dashboard's money module is plain browser ESM with no DOM use, so Node can load it as is. */
interface MoneyModule {
  formatMoney(v: string | bigint): string;
  formatGnk(v: string | bigint): string;
  parseGnk(text: string): string | null;
  toGnkInput(v: string | null): string;
  ratio(part: string | bigint, whole: string | bigint): number;
  percent(part: string | bigint, whole: string | bigint): number;
}
const path = '../../api/dashboard/js/money.js';
const money = (await import(path)) as MoneyModule;

describe('dashboard money formatting', () => {
  it('shows GNK beside exact nGNK, without floating point', () => {
    expect(money.formatMoney('1500000000')).toBe('1.5 GNK (1,500,000,000 nGNK)');
    expect(money.formatMoney('0')).toBe('0 GNK (0 nGNK)');
    expect(money.formatMoney('1')).toBe('0.000000001 GNK (1 nGNK)');
    expect(money.formatGnk('9007199254740993123')).toBe('9,007,199,254.740993123 GNK');
  });

  it('parses what a person types in GNK into an nGNK string', () => {
    expect(money.parseGnk('1.5')).toBe('1500000000');
    expect(money.parseGnk(' 2,000 ')).toBe('2000000000000');
    expect(money.parseGnk('.25')).toBe('250000000');
    expect(money.parseGnk('0.000000001')).toBe('1');
    expect(money.parseGnk('')).toBeNull();
    expect(() => money.parseGnk('0.0000000001')).toThrow(/9 decimals/);
    expect(() => money.parseGnk('-1')).toThrow(/cannot be negative/);
    expect(() => money.parseGnk('-0.5')).toThrow(/cannot be negative/);
    expect(() => money.parseGnk('1e9')).toThrow(/amount of GNK/);
    // A decimal comma is refused, never read as grouping ("1,5" was 15 GNK).
    for (const t of ['1,5', '12,50', '1,0000', ',5', '1,000,00'])
      expect(() => money.parseGnk(t)).toThrow(/dot for decimals/);
    // The API's maximum (Postgres's bigint), not 2^53: a limit set that high through the API must
    // read back from the edit form and save again.
    expect(() => money.parseGnk('9223372036.854775808')).toThrow(/At most 9,223,372,036.854775807 GNK/);
    expect(money.parseGnk('9223372036.854775807')).toBe('9223372036854775807');
    expect(money.parseGnk(money.toGnkInput('100000000000000000'))).toBe('100000000000000000');
    expect(money.parseGnk('1,234,567.5')).toBe('1234567500000000');
    expect(money.parseGnk('9007199.254740991')).toBe('9007199254740991');
    expect(money.toGnkInput('2250000000')).toBe('2.25');
    expect(money.toGnkInput('1000000000000')).toBe('1000');
  });

  it('computes usage ratios in BigInt, capped to 0..1', () => {
    expect(money.ratio('250000000', '1000000000')).toBe(0.25);
    expect(money.ratio('5', '0')).toBe(1);
    expect(money.ratio('3000', '1000')).toBe(1);
  });

  it('gives usage in whole percent, rounded down, past 100 when spend passed the limit', () => {
    expect(money.percent('1500', '1000')).toBe(150);
    expect(money.percent('999', '1000')).toBe(99);
    expect(money.percent('0', '0')).toBe(0);
  });
});
