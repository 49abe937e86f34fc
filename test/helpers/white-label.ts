import { expect } from 'vitest';
import type { Simulator } from '../../shared/gonka/simulator/index.js';

/** One /v1 answer as the client saw it. */
export interface Seen {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A fetch for the openai client that keeps a copy of every answer, so a test can check afterwards
 * that nothing in it names the upstream.
 */
export function recordingFetch(seen: Seen[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const copy = res.clone();
    const headers = Object.fromEntries(res.headers.entries());
    // Streams are recorded once they end; a test that reads them waits for that anyway.
    void copy.text().then(
      (body) => seen.push({ status: res.status, headers, body }),
      () => seen.push({ status: res.status, headers, body: '' }),
    );
    return res;
  };
}

/**
 * White-label (API.md): no body, header or error message a child key's client gets names the
 * network, a node (its host:port) or a `gonka1…` address, which the brand-word check covers. The
 * `_ngonka` unit suffix of field names is the product's currency and is allowed.
 */
export function expectWhiteLabelled(texts: readonly string[], sim: Simulator): void {
  const nodes = sim.urls.map((u) => new URL(u).host);
  for (const raw of texts) {
    const text = raw.replaceAll('_ngonka', '').toLowerCase();
    expect(text, raw).not.toContain('gonka');
    for (const host of nodes) expect(text, raw).not.toContain(host);
  }
}

export function seenTexts(seen: readonly Seen[]): string[] {
  return seen.map((s) => `${JSON.stringify(s.headers)}\n${s.body}`);
}
