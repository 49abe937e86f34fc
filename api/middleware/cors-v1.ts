import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';

/**
 * Cross-origin access to /v1, so a child key can be used from a browser app, as OpenAI-compatible
 * APIs allow. Any origin: a /v1 call is authorized by its bearer key alone, never by a cookie, so
 * no credentials are allowed and a page can do nothing a script holding the key could not. The
 * answer's own headers (request id, rate limits, Retry-After, a replayed submission) are readable.
 * A preflight (OPTIONS) is answered here with 204; everything else goes on.
 */
const v1Cors = cors({
  origin: '*',
  methods: ['GET', 'POST', 'DELETE', 'OPTIONS'], // DELETE: /v1/files/:id
  // Whatever headers a preflight asks for (the cors package echoes them when none are listed): the
  // official openai client sends its own (x-stainless-*, openai-*) from a browser too, and with no
  // credentials a header can do nothing the key could not.
  exposedHeaders: [
    'x-request-id',
    'x-ratelimit-limit-requests',
    'x-ratelimit-remaining-requests',
    'x-ratelimit-reset-requests',
    'retry-after',
    'retry-after-ms',
    'idempotent-replayed',
    'x-should-retry',
  ],
  maxAge: 600,
});

/** Express middleware for /v1 and, with plain node request/response, the api's fast path. */
export function corsV1(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  v1Cors(req, res, next);
}
