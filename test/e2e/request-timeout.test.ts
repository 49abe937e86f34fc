import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';
import { slowUpload, upload } from '../helpers/uploads.js';
import { waitFor } from '../helpers/wait.js';

/** REQUEST_TIMEOUT_MS bounds how long a client may take to send a request: an upload too. */
process.env.TMPDIR = mkdtempSync(join(tmpdir(), 'request-timeout-'));
const spool = join(process.env.TMPDIR, 'gonka-gateway-uploads');

const stack = useTestStack({ env: { REQUEST_TIMEOUT_MS: '1500' }, workers: false });

describe('REQUEST_TIMEOUT_MS', () => {
  it('ends an upload that does not arrive in time with a 408, and keeps nothing of it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const started = Date.now();
    const stalled = slowUpload(stack.server.url, c.childKey);
    const answer = await stalled.answer;
    expect(answer.status).toBe(408);
    // In the error envelope, with the request's id, as every answer.
    expect(answer.headers['x-request-id']).toMatch(/.+/);
    expect(JSON.parse(answer.body)).toEqual({
      error: expect.objectContaining({
        type: 'request_timeout',
        message: expect.stringContaining('1500 ms'),
      }),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    await waitFor('the spool emptied', () => readdirSync(spool).length === 0);
    // One sent at once is well within it.
    expect(await upload(stack.server.url, c.childKey)).toBe(200);
  });
});
