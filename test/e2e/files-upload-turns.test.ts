import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * POST /v1/files spools a file to disk and then checks and stores it over a Postgres connection, so
 * an api process takes UPLOADS_IN_FLIGHT uploads at a time (1 here) and the others wait, their
 * bodies unread.
 */
const stack = useTestStack({ env: { UPLOADS_IN_FLIGHT: '1' }, workers: false });

const LINE = JSON.stringify({
  custom_id: 'a',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
});

function multipart(): { type: string; body: Buffer } {
  const boundary = 'turns-boundary';
  const body = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n${LINE}\r\n--${boundary}--\r\n`,
  );
  return { type: `multipart/form-data; boundary=${boundary}`, body };
}

/** An upload whose body is sent in two parts: the second only when `finish` is called. */
function slowUpload(url: string, key: string) {
  const { type, body } = multipart();
  const cut = Math.floor(body.length / 2);
  let answered: (status: number) => void = () => {};
  const status = new Promise<number>((resolve) => {
    answered = resolve;
  });
  const req = request(`${url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': type, 'content-length': body.length },
  });
  req.on('response', (res) => {
    res.resume();
    res.on('end', () => answered(res.statusCode ?? 0));
  });
  req.on('error', () => answered(-1));
  req.write(body.subarray(0, cut));
  return { status, finish: () => req.end(body.subarray(cut)), abort: () => req.destroy() };
}

async function upload(url: string, key: string, signal?: AbortSignal): Promise<number> {
  const { type, body } = multipart();
  const res = await fetch(`${url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': type },
    body: new Uint8Array(body),
    ...(signal ? { signal } : {}),
  });
  return res.status;
}

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
    first.finish();
    expect(await first.status).toBe(200);
    expect(await second).toBe(200);
    expect(order).toEqual(['first', 'second']);
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
  });
});
