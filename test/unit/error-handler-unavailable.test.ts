import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sendError } from '../../api/middleware/error-handler.js';
import { HoldWriteUnknown } from '../../shared/admission/admit.js';
import { createLogger } from '../../shared/logger.js';

/** The status and Retry-After a client gets for `err`, answered as the api answers every error. */
async function answerFor(err: unknown): Promise<{ status: number; retryAfter: string | null; type: string }> {
  const server = createServer((_req, res) => sendError(res, err, createLogger('silent'), 'req_1'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const body = (await res.json()) as { error: { type: string } };
    return { status: res.status, retryAfter: res.headers.get('retry-after'), type: body.error.type };
  } finally {
    server.close();
  }
}

describe('errors of a store out of reach', () => {
  it('answers a hold write lost with its connection 503 with Retry-After: the client may retry', async () => {
    const lost = Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
    expect(await answerFor(new HoldWriteUnknown('hold_1', lost))).toMatchObject({
      status: 503,
      type: 'service_unavailable',
      retryAfter: expect.stringMatching(/^\d+$/),
    });
    // A write that failed for another reason is no outage: a 500.
    expect(await answerFor(new HoldWriteUnknown('hold_2', new Error('a bug')))).toMatchObject({
      status: 500,
      type: 'internal_error',
    });
  });
});
