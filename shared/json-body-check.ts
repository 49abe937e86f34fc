import { ApiError } from './errors.js';

/**
 * How deep a request's JSON may nest. Anything deeper is no real request, and past a few thousand
 * levels JSON.stringify (storing it, forwarding it to a node) overflows the stack: a 500.
 */
export const MAX_JSON_DEPTH = 64;

declare global {
  interface String {
    /** ES2024, in Node since 20: lib ES2024 would also type what Node 20 lacks. */
    isWellFormed(): boolean;
  }
}

interface Frame {
  value: object;
  depth: number;
  parent: Frame | null;
  /** Its key or index in the parent; for the field's name, worked out only on a fault. */
  key: string | number;
}

/**
 * What is wrong with a parsed JSON body before any route looks at it, or null: nesting deeper than
 * `max`, or a string (value or key) that Postgres cannot store — a NUL character, or half of a
 * surrogate pair (`"\ud800"`, which JSON allows and no UTF-8 text can hold). Either would
 * otherwise surface as a 500 from wherever the text is first stored (a job's request, a key's
 * name, metadata). One walk, without recursion, that allocates only per nested object or array:
 * it runs on every body before the key is known, 4 MiB ones included.
 */
export function jsonBodyProblem(value: unknown, max = MAX_JSON_DEPTH): ApiError | null {
  if (typeof value === 'string') return unstorable(value) ? badText(null) : null;
  if (value === null || typeof value !== 'object') return null;
  const stack: Frame[] = [{ value, depth: 1, parent: null, key: '' }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (frame.depth > max) return tooDeep();
    const v = frame.value;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (typeof x === 'string') {
          if (unstorable(x)) return badText(pathOf(frame, i));
        } else if (x !== null && typeof x === 'object') {
          stack.push({ value: x, depth: frame.depth + 1, parent: frame, key: i });
        }
      }
      continue;
    }
    const o = v as Record<string, unknown>;
    for (const k in o) {
      if (unstorable(k)) return badText(pathOf(frame));
      const x = o[k];
      if (typeof x === 'string') {
        if (unstorable(x)) return badText(pathOf(frame, k));
      } else if (x !== null && typeof x === 'object') {
        stack.push({ value: x, depth: frame.depth + 1, parent: frame, key: k });
      }
    }
  }
  return null;
}

/**
 * Whether JSON text nests deeper than `max`, found before JSON.parse builds it: a few MiB of
 * `[[[[…` (a few KiB gzipped) cost JSON.parse seconds of the event loop, every tenant's, so the
 * depth check on the parsed value (jsonBodyProblem) came too late to spare it. One pass over the
 * bytes, skipping strings (a bracket in one is text) and their escapes; a UTF-8 multi-byte
 * sequence never holds an ASCII byte, so bytes are enough. Text that is not JSON may be called
 * too deep here rather than malformed by JSON.parse: a 400 either way.
 */
export function nestsTooDeep(bytes: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  // (UTF-8 only: body-parser's other charsets are refused before this, json-body.ts.)
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) return true;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** How a top-level money field's number must be written, by the suffix of its name. */
const MONEY_LITERALS = {
  // API.md: a string or a JSON integer; no fraction or exponent, which parsing may round.
  _ngonka: /^-?\d+$/,
  // The token's own precision (money.ts usdtInput), written out.
  _usdt: /^-?\d+(\.\d{1,6})?$/,
} as const;
type MoneySuffix = keyof typeof MONEY_LITERALS;
const SUFFIXES = Object.keys(MONEY_LITERALS).map((k) => ({
  suffix: k as MoneySuffix,
  bytes: Buffer.from(k),
}));

/**
 * The top-level money field (`…_ngonka`, `…_usdt`) of JSON text whose number is written in a way
 * parsing may round, or null. API.md takes nGNK as a string or a JSON integer, but by the time a
 * route sees the parsed number its text is gone: `4.9999999999999999` is 5 and `9007199254740990.6`
 * is …991, a top-up credited for an amount nobody sent (keys32); `0.99999999999999999` USDT is 1
 * (review32). Only top-level fields: a key's metadata below them may hold any number. One pass over
 * the bytes, as nestsTooDeep; a key is compared by its last bytes, decoded only when it has escapes.
 */
export function inexactMoneyField(bytes: Uint8Array): { field: string; suffix: MoneySuffix } | null {
  let depth = 0;
  let money: { suffix: MoneySuffix; start: number; end: number } | null = null; // the key whose value comes next
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      const start = i + 1;
      let escaped = false;
      for (i = start; i < bytes.length && bytes[i] !== QUOTE; i++)
        if (bytes[i] === BACKSLASH) {
          escaped = true;
          i++;
        }
      if (depth !== 1) continue;
      // A key is a string followed by a colon.
      let j = i + 1;
      while (j < bytes.length && isJsonSpace(bytes[j]!)) j++;
      if (bytes[j] !== COLON) continue;
      const suffix = escaped ? suffixOfEscaped(bytes, start, i) : suffixOf(bytes, start, i);
      money = suffix ? { suffix, start, end: i } : null;
    } else if (b === 0x5b || b === 0x7b) depth++;
    else if (b === 0x5d || b === 0x7d) depth--;
    else if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
      const start = i;
      while (i + 1 < bytes.length && isNumberByte(bytes[i + 1]!)) i++;
      if (depth !== 1 || !money) continue;
      const literal = Buffer.from(bytes.buffer, bytes.byteOffset + start, i + 1 - start).toString('latin1');
      const field = MONEY_LITERALS[money.suffix].test(literal)
        ? null
        : keyText(bytes, money.start, money.end);
      // (A key that is no JSON string: JSON.parse refuses the body next.)
      if (field !== null) return { field, suffix: money.suffix };
    }
  }
  return null;
}

function suffixOf(bytes: Uint8Array, start: number, end: number): MoneySuffix | null {
  for (const { suffix, bytes: tail } of SUFFIXES) {
    if (end - start < tail.length) continue;
    let k = 0;
    while (k < tail.length && bytes[end - tail.length + k] === tail[k]) k++;
    if (k === tail.length) return suffix;
  }
  return null;
}

/** A key written with escapes (`"amount\u005fngonka"` is amount_ngonka): decoded, then compared. */
function suffixOfEscaped(bytes: Uint8Array, start: number, end: number): MoneySuffix | null {
  const key = keyText(bytes, start, end);
  return key === null ? null : (SUFFIXES.find(({ suffix }) => key.endsWith(suffix))?.suffix ?? null);
}

/** The text of the string between `start` and `end`, its escapes decoded; null when it is no JSON string. */
function keyText(bytes: Uint8Array, start: number, end: number): string | null {
  try {
    return JSON.parse(
      `"${Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8')}"`,
    );
  } catch {
    return null; // not JSON: JSON.parse refuses the body next
  }
}

const COLON = 0x3a;
const isJsonSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
/** Digits, sign, point and exponent: what a JSON number is made of. */
const isNumberByte = (b: number) =>
  (b >= 0x30 && b <= 0x39) || b === 0x2e || b === 0x65 || b === 0x45 || b === 0x2b || b === 0x2d;

/** The 400 for a money field written in a way parsing may round. */
export const inexactMoney = ({ field, suffix }: { field: string; suffix: MoneySuffix }) =>
  new ApiError(
    'invalid_request_error',
    suffix === '_ngonka'
      ? `${field}: must be an integer of nGNK, written without a fraction or an exponent (a string for amounts past 2^53)`
      : `${field}: must be a positive USDT amount with at most 6 decimals, written out (no exponent)`,
    { param: field },
  );

/** The 400 for a body that nests too deeply. */
const tooDeepMessage = `The JSON body nests more than ${MAX_JSON_DEPTH} levels deep`;
export const tooDeep = () => new ApiError('invalid_request_error', tooDeepMessage, { param: null });

/**
 * A body whose bytes are not UTF-8 (RFC 8259): decoded anyway, each bad byte would become U+FFFD,
 * so `pay-\xff` and `pay-\xfe` would be one top-up reference and the second payment a replay.
 */
export const notUtf8 = () =>
  new ApiError('invalid_request_error', 'The body is not valid UTF-8 (JSON is UTF-8: RFC 8259)', {
    param: null,
  });

/** A NUL, or a lone surrogate: text no Postgres `text` or `jsonb` value can hold. */
export function unstorable(s: string): boolean {
  return s.includes('\u0000') || !s.isWellFormed();
}

function badText(param: string | null): ApiError {
  const where = param ? `${param}: ` : '';
  return new ApiError(
    'invalid_request_error',
    `${where}text may not contain a NUL character (\\u0000) or an unpaired surrogate (\\ud800-\\udfff)`,
    { param },
  );
}

/** `messages.0.content`, as validation names a field (validate.ts). */
function pathOf(frame: Frame, last?: string | number): string | null {
  const parts: (string | number)[] = last === undefined ? [] : [last];
  for (let f: Frame | null = frame; f?.parent; f = f.parent) parts.unshift(f.key);
  return parts.length > 0 ? parts.join('.') : null;
}
