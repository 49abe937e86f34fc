import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Headers of every /api and /v1 answer: they carry secrets (a key shown once, a webhook secret) and
 * customers' data (job results, files), so no cache keeps them, and a browser never sniffs a JSON
 * answer into something it would render. Express middleware, and a plain call on the fast path.
 */
export function apiResponseHeaders(_req: IncomingMessage, res: ServerResponse, next: () => void): void {
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  next();
}
