import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { webhookUserAgent } from '../../shared/webhooks/deliver.js';

describe('the webhook User-Agent', () => {
  it('is the brand as an HTTP token, whatever BRAND_NAME holds', () => {
    expect(webhookUserAgent('Gateway')).toBe('Gateway-Webhooks/1.0');
    expect(webhookUserAgent('Nova™')).toBe('NovaTM-Webhooks/1.0');
    expect(webhookUserAgent('Açme AI')).toBe('AcmeAI-Webhooks/1.0');
    expect(webhookUserAgent('星辰')).toBe('Gateway-Webhooks/1.0');
    // Every one is a header value Node sends (it throws on a character past U+00FF).
    for (const brand of ['Nova™', '星辰AI', 'Ça va 🚀', 'a\r\nb'])
      expect(() =>
        request('http://127.0.0.1:9', { headers: { 'user-agent': webhookUserAgent(brand) } }).destroy(),
      ).not.toThrow();
    expect(() => request('http://127.0.0.1:9', { headers: { 'user-agent': 'Nova™' } })).toThrow();
  });
});
