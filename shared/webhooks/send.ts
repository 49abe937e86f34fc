import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { VettedAddress } from './ssrf.js';

export interface PinnedPost {
  url: URL;
  /** The address the SSRF check approved; the connection goes there and nowhere else. */
  address: VettedAddress;
  headers: Record<string, string>;
  body: string;
  /**
   * The whole attempt to response headers, counted from `startedAt` (a performance.now() reading;
   * @default now), so a lookup made before this call spends from the same budget.
   */
  timeoutMs: number;
  startedAt?: number;
}

/**
 * POST `body` and resolve with the response status. The host name still goes in the Host header
 * and TLS SNI/certificate check, but the socket connects to the vetted address: the custom lookup
 * never asks DNS again. No connection pooling (`agent: false`), so no socket outlives its check.
 * Redirects are not followed: a 3xx is a failed attempt, not a way around the guard.
 */
export function postPinned(p: PinnedPost): Promise<number> {
  const pinned: LookupFunction = (_host, opts, cb) => {
    if (opts.all) cb(null, [{ address: p.address.address, family: p.address.family }]);
    else cb(null, p.address.address, p.address.family);
  };
  const request = p.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      p.url,
      {
        method: 'POST',
        headers: { ...p.headers, 'content-length': String(Buffer.byteLength(p.body)) },
        lookup: pinned,
        agent: false,
      },
      (res) => {
        // Only the status matters; drain the body so the socket can close.
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    const left = p.timeoutMs - (p.startedAt === undefined ? 0 : performance.now() - p.startedAt);
    const timer = setTimeout(
      () => req.destroy(new Error(`timed out after ${p.timeoutMs} ms`)),
      Math.max(left, 0),
    );
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(p.body);
  });
}
