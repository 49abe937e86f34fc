import { describe, expect, it } from 'vitest';
import { inexactMoneyField } from '../../shared/json-body-check.js';

const check = (json: string) => inexactMoneyField(Buffer.from(json));

// A money field's number as its text has it, before JSON.parse rounds it (keys32, review32).
describe('inexactMoneyField', () => {
  it('finds an nGNK amount written with a fraction or an exponent, however its name is written', () => {
    for (const literal of ['4.9999999999999999', '9007199254740990.6', '1.0', '1e3', '1E0', '0e0', '-1.5'])
      expect(check(`{"amount_ngonka": ${literal}}`), literal).toEqual({
        field: 'amount_ngonka',
        suffix: '_ngonka',
      });
    // Escapes in the name spell the same field (review32: they slipped past).
    expect(check('{"amount\\u005fngonka": 4.9999999999999999}')).toEqual({
      field: 'amount_ngonka',
      suffix: '_ngonka',
    });
    expect(check('{"limit_daily_ngonk\\u0061" :\n 1.5}')?.field).toBe('limit_daily_ngonka');
  });

  it('finds a USDT amount past 6 decimals or with an exponent', () => {
    for (const literal of ['0.99999999999999999', '0.0000009999999999999999', '1e2', '1.1234567'])
      expect(check(`{"amount_usdt": ${literal}}`)?.suffix, literal).toBe('_usdt');
  });

  it('passes what parses exactly, strings, and numbers that are no top-level money field', () => {
    const fine = [
      '{"amount_ngonka": 5, "amount_usdt": 12.5, "reference": "a:1.5"}',
      '{"amount_ngonka": "4.5"}', // a string: the route's own check refuses it, naming the field
      '{"amount_usdt": 123456789012.123456}',
      '{"limit_daily_ngonka": 7, "metadata": {"rate_ngonka": 1.5, "n": 2e3}}',
      '{"rate_limit_rpm": 1.5}',
      '{"name": "x_ngonka", "other": 1.5}', // a value that looks like a money name is no key
      '{"a": ["amount_ngonka", 1.5]}',
      '[{"amount_ngonka": 1.5}]', // not top level
      '{"quote\\"_ngonka": 1}',
      '{"amount_ngonka": -0}',
    ];
    for (const json of fine) expect(check(json), json).toBeNull();
  });

  it('reads a body of many keys in one pass', () => {
    const body = `{${Array.from({ length: 10_000 }, (_, i) => `"k${i}": ${i}`).join(', ')}, "amount_ngonka": 1.5}`;
    expect(check(body)?.field).toBe('amount_ngonka');
  });
});
