import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';
import { multipart, slowUpload, upload } from '../helpers/uploads.js';
import { waitFor } from '../helpers/wait.js';

/**
 * POST /v1/files spools a file to disk and then checks and stores it over a Postgres connection, so
 * an api process receives UPLOADS_RECEIVING uploads at a time (1 here) and the others wait, their
 * bodies unread.
 */
// A TMPDIR of this file's own (each test file runs in a process of its own): its upload spool
// holds only this file's uploads.
process.env.TMPDIR = mkdtempSync(join(tmpdir(), 'upload-turns-'));
const spool = join(process.env.TMPDIR, 'gonka-gateway-uploads');
const spooled = () => readdirSync(spool);

const stack = useTestStack({ env: { UPLOADS_RECEIVING: '1', UPLOADS_IN_FLIGHT: '1' }, workers: false });

/** Waits until /metrics shows this many uploads receiving and waiting. */
const uploadsAre = (receiving: number, waiting: number) =>
  waitFor(`${receiving} receiving, ${waiting} waiting`, async () => {
    const text = await (await fetch(`${stack.server.url}/metrics`)).text();
    return (
      text.includes(`gateway_file_uploads{state="receiving"} ${receiving}\n`) &&
      text.includes(`gateway_file_uploads{state="waiting"} ${waiting}\n`)
    );
  });

describe('POST /v1/files, one upload at a time', () => {
  it('answers a waiting upload only after the one being received', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = slowUpload(stack.server.url, c.childKey);
    await uploadsAre(1, 0);
    const order: string[] = [];
    void first.status.then(() => order.push('first'));
    const second = upload(stack.server.url, c.childKey).then((s) => {
      order.push('second');
      return s;
    });
    // The second is whole and tiny, yet it waits for the first, which is still arriving.
    await uploadsAre(1, 1);
    expect(order).toEqual([]);
    // The one being received is spooled in the gateway's own directory under TMPDIR.
    await waitFor('the first spooled', () => spooled().length === 1);
    first.finish();
    expect(await first.status).toBe(200);
    expect(await second).toBe(200);
    expect(order).toEqual(['first', 'second']);
    // Each spooled file is removed once stored (just after the answer).
    await waitFor('the spool emptied', () => spooled().length === 0);
  });

  it('gives the turn of a client that left while waiting to the next one', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = slowUpload(stack.server.url, c.childKey);
    await uploadsAre(1, 0);
    const leaving = slowUpload(stack.server.url, c.childKey);
    await uploadsAre(1, 1); // queued behind the first
    leaving.abort();
    await leaving.status;
    first.finish();
    expect(await first.status).toBe(200);
    await uploadsAre(0, 0);
    // Had the leaver kept its turn, this would never be answered.
    expect(await upload(stack.server.url, c.childKey, AbortSignal.timeout(10_000))).toBe(200);
    await waitFor('the spool emptied', () => spooled().length === 0);
  });

  it('removes the spooled part of an upload whose client went away mid-body', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const gone = slowUpload(stack.server.url, c.childKey);
    await uploadsAre(1, 0);
    await waitFor('its first part spooled', () => spooled().length === 1);
    gone.abort();
    await gone.status;
    await uploadsAre(0, 0);
    await waitFor('the spool emptied', () => spooled().length === 0);
  });

  it('spools again after a temp-directory cleaner removed the spool', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    rmSync(spool, { recursive: true, force: true });
    expect(await upload(stack.server.url, c.childKey)).toBe(200);
    await waitFor('the spool emptied', () => spooled().length === 0);
  });

  it('answers a spool it cannot write to with a 500 that names no path', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    rmSync(spool, { recursive: true, force: true });
    writeFileSync(spool, 'not a directory');
    try {
      const { type, body } = multipart();
      const res = await fetch(`${stack.server.url}/v1/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.childKey}`, 'content-type': type },
        body: new Uint8Array(body),
      });
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text).error.type).toBe('internal_error');
      expect(text).not.toContain(spool);
    } finally {
      rmSync(spool, { force: true });
    }
    expect(await upload(stack.server.url, c.childKey)).toBe(200);
  });
});
