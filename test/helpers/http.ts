import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import type { AppDeps } from '../../api/app.js';
import { createApiServer } from '../../api/server.js';
import type { Context } from '../../shared/context.js';
import { createTestEnv, type TestEnv } from './context.js';

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

/** The api server (as `npm start` runs it) on a random port. */
export async function startTestServer(ctx: Context, deps?: AppDeps): Promise<TestServer> {
  const server = createApiServer(ctx, deps).listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** fetch with a JSON body and a bearer token; parses the JSON answer. */
export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    rawBody?: string | Blob;
    headers?: Record<string, string>;
  } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Blob | undefined;
  if (opts.rawBody !== undefined) {
    body = opts.rawBody;
    headers['content-type'] ??= 'application/json';
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** An answer read off the socket: the status, headers (lower-case names) and body as text. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Send bytes as they are (a request fetch would refuse to make) and read the answer until the
 * server closes the connection.
 */
export function rawHttp(base: string, request: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    // The server may close while the request is still being written: the answer is what arrived.
    socket.on('error', () => {});
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
  });
}

/** A small non-stream chat with child key `key`, as a customer's client sends it. */
export async function chatWith(
  base: string,
  key: string,
  model: string,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20 }),
  });
  return { status: res.status, body: await res.json() };
}

/**
 * A test file's own database, Redis prefix and api server, made before its tests and closed after:
 * read `env` and `server` inside the tests.
 */
export function useTestServer(): { readonly env: TestEnv; readonly server: TestServer } {
  let env: TestEnv | undefined;
  let server: TestServer | undefined;
  beforeAll(async () => {
    env = await createTestEnv();
    server = await startTestServer(env.ctx);
  });
  afterAll(async () => {
    await server?.close();
    await env?.close();
  });
  return {
    get env() {
      return env!;
    },
    get server() {
      return server!;
    },
  };
}
