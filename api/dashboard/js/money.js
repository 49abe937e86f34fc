/**
 * Money arrives from the API as nGNK strings and is only ever handled as BigInt here: a Number
 * loses whole nGNK above 2^53 and a float misplaces fractions.
 */
export const NGNK_PER_GNK = 1_000_000_000n;
const DECIMALS = 9;

function toBig(v) {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  throw new TypeError(`not an nGNK amount: ${String(v)}`);
}

/** 1234567 → "1,234,567" */
export function groupDigits(n) {
  return toBig(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** nGNK → GNK as an exact decimal, trailing zeros trimmed: "1500000000" → "1.5". */
export function gnkNumber(ngnk) {
  const v = toBig(ngnk);
  const whole = groupDigits(v / NGNK_PER_GNK);
  const frac = (v % NGNK_PER_GNK).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}

/** "1.5 GNK" */
export const formatGnk = (ngnk) => `${gnkNumber(ngnk)} GNK`;

/** "1,500,000,000 nGNK" */
export const formatNgnk = (ngnk) => `${groupDigits(ngnk)} nGNK`;

/** "1.5 GNK (1,500,000,000 nGNK)" */
export const formatMoney = (ngnk) => `${formatGnk(ngnk)} (${formatNgnk(ngnk)})`;

/** The largest amount the API takes for a limit: Postgres's bigint (shared/money.ts MAX_NGONKA, 2^63 − 1 nGNK). */
export const MAX_NGNK = 9_223_372_036_854_775_807n;

/**
 * A number typed by a person without its grouping: "1,000" and "1_000" → "1000", trimmed. A comma
 * only groups thousands: "1,5" is refused, not read as 15 (nor as 1.5, which some locales mean by
 * it). Every number field reads its text through here, so they all take the same grouping.
 */
export function ungroup(text) {
  const t = String(text ?? '')
    .trim()
    .replaceAll('_', '');
  if (t.includes(',') && !/^-?\d{1,3}(,\d{3})+(\.\d*)?$/.test(t))
    throw new Error('Use a dot for decimals (1.5); a comma may only group thousands (1,000)');
  return t.replaceAll(',', '');
}

/**
 * A GNK amount typed by a person ("1.5", "0.000000001", "1,000") → an nGNK string; "" → null.
 * Throws an Error with a message fit to show beside the field.
 */
export function parseGnk(text) {
  const t = ungroup(text);
  if (t === '') return null;
  if (/^-(\d+\.?\d*|\.\d+)$/.test(t)) throw new Error('An amount cannot be negative');
  const m = /^(\d*)(?:\.(\d*))?$/.exec(t);
  if (!m || (m[1] === '' && !m[2])) throw new Error('Enter an amount of GNK, such as 1.5');
  const frac = m[2] ?? '';
  if (frac.length > DECIMALS) throw new Error('At most 9 decimals (1 nGNK = 0.000000001 GNK)');
  const ngnk = BigInt(m[1] || '0') * NGNK_PER_GNK + BigInt(frac.padEnd(DECIMALS, '0') || '0');
  if (ngnk > MAX_NGNK) throw new Error(`At most ${gnkNumber(MAX_NGNK)} GNK`);
  return ngnk.toString();
}

/** nGNK → the text a GNK input should show when editing (no grouping, so it parses back). */
export function toGnkInput(ngnk) {
  if (ngnk === null || ngnk === undefined) return '';
  return gnkNumber(ngnk).replaceAll(',', '');
}

/** part / whole as a 0..1 number, computed in BigInt so huge amounts keep their proportion. */
export function ratio(part, whole) {
  const w = toBig(whole);
  if (w === 0n) return toBig(part) > 0n ? 1 : 0;
  const r = Number((toBig(part) * 10_000n) / w) / 10_000;
  return Math.min(1, Math.max(0, r));
}

/**
 * part / whole in whole percent, rounded down and not capped: spend a lowered limit left behind is
 * 150%, not 100%. Computed in BigInt so huge amounts keep their proportion.
 */
export function percent(part, whole) {
  const w = toBig(whole);
  if (w === 0n) return toBig(part) > 0n ? 100 : 0;
  return Number((toBig(part) * 100n) / w);
}

/** Compare two nGNK amounts for sorting (descending when used as `(a, b) => compare(b, a)`). */
export function compare(a, b) {
  const x = toBig(a);
  const y = toBig(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
