import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { VettedAddress } from './ssrf.js';

export interface PinnedPost {
  url: URL;
  /** The address the SSRF check approved; the connection goes there and nowhere else. */
  address: VettedAddress;
  headers: Record<string, string>;
  body: string;
  /** The whole attempt, connect to response headers. */
  timeoutMs: number;
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
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${p.timeoutMs} ms`)), p.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(p.body);
  });
}
