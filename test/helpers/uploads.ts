import { type IncomingHttpHeaders, request } from 'node:http';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';

/** Uploads to POST /v1/files at the HTTP level: whole, or held back mid-body. */

const LINE = JSON.stringify({
  custom_id: 'a',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
});

export function multipart(): { type: string; body: Buffer } {
  const boundary = 'turns-boundary';
  const body = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n${LINE}\r\n--${boundary}--\r\n`,
  );
  return { type: `multipart/form-data; boundary=${boundary}`, body };
}

/** What the gateway answered an upload (status -1: the connection failed with no answer). */
export interface UploadAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * An upload whose body is sent in two parts: the second, its last bytes, only when `finish` is
 * called (so the first has reached the file's content, which the gateway is spooling).
 */
export function slowUpload(url: string, key: string) {
  const { type, body } = multipart();
  const cut = body.length - 16;
  let answered: (a: UploadAnswer) => void = () => {};
  const answer = new Promise<UploadAnswer>((resolve) => {
    answered = resolve;
  });
  const req = request(`${url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': type, 'content-length': body.length },
  });
  req.on('response', (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () =>
      answered({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }),
    );
  });
  req.on('error', () => answered({ status: -1, headers: {}, body: '' }));
  req.write(body.subarray(0, cut));
  return {
    status: answer.then((a) => a.status),
    answer,
    finish: () => req.end(body.subarray(cut)),
    abort: () => req.destroy(),
  };
}

export async function upload(url: string, key: string, signal?: AbortSignal): Promise<number> {
  const { type, body } = multipart();
  const res = await fetch(`${url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': type },
    body: new Uint8Array(body),
    ...(signal ? { signal } : {}),
  });
  return res.status;
}
