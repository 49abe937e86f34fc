import { validateHeaderValue } from 'node:http';
import { describe, expect, it } from 'vitest';
import { webhookUserAgent } from '../../shared/webhooks/deliver.js';

describe('the webhook User-Agent', () => {
  it('is the brand as an HTTP token, whatever BRAND_NAME holds', () => {
    expect(webhookUserAgent('Gateway')).toBe('Gateway-Webhooks/1.0');
    expect(webhookUserAgent('Nova™')).toBe('NovaTM-Webhooks/1.0');
    expect(webhookUserAgent('Açme AI')).toBe('AcmeAI-Webhooks/1.0');
    expect(webhookUserAgent('星辰')).toBe('Gateway-Webhooks/1.0');
    // Every one is a header value Node sends (it refuses a character past U+00FF, as for "Nova™").
    for (const brand of ['Nova™', '星辰AI', 'Ça va 🚀', 'a\r\nb'])
      expect(() => validateHeaderValue('user-agent', webhookUserAgent(brand))).not.toThrow();
    expect(() => validateHeaderValue('user-agent', 'Nova™-Webhooks/1.0')).toThrow();
  });
});
