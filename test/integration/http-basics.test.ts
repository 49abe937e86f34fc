import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { call, rawHttp, useTestServer } from '../helpers/http.js';

const t = useTestServer();

const SEND_UTF8 = 'send JSON as UTF-8 (Content-Type: application/json; charset=utf-8, or no charset)';

describe('HTTP basics', () => {
  it('answers /healthz and /readyz when Postgres and Redis are up', async () => {
    expect((await call(t.server.url, 'GET', '/healthz')).status).toBe(200);
    const ready = await call(t.server.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ postgres: 'ok', redis: 'ok' });
  });

  it('gives an unknown route a 404 in the error envelope with a request id', async () => {
    const res = await call(t.server.url, 'GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe('not_found');
    expect(res.headers.get('x-request-id')).toMatch(/.+/);
  });

  it('echoes a caller-supplied x-request-id', async () => {
    const res = await call(t.server.url, 'GET', '/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
  });

  it.each([
    ['a request line it cannot parse', 'GARBAGE\r\n\r\n', 400, 'invalid_request_error'],
    [
      'headers past the size limit',
      `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
  ])(
    'answers %s in the error envelope with a request id, as every answer',
    async (_what, request, status, type) => {
      const answer = await rawHttp(t.server.url, request);
      expect(answer.status).toBe(status);
      expect(answer.headers['x-request-id']).toMatch(/.+/);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(answer.body)).toEqual({
        error: expect.objectContaining({ type, message: expect.any(String) }),
      });
    },
  );

  it('answers malformed JSON with 400 invalid_request_error', async () => {
    const res = await call(t.server.url, 'POST', '/api/auth/register', { rawBody: '{"email": ' });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request_error');
  });

  it.each([
    ['gzip', 'garbage'],
    ['deflate', 'garbage'],
    ['br', '{}'],
  ])('answers a body that is not valid %s with 400, not 500', async (encoding, body) => {
    // (/v1 reads a body only once the key is known: test/e2e/v1-fast-path.test.ts.)
    const res = await call(t.server.url, 'POST', '/api/auth/register', {
      rawBody: body,
      headers: { 'content-encoding': encoding },
    });
    expect([res.status, res.body.error.type]).toEqual([400, 'invalid_request_error']);
  });

  it('reads at most 128 KiB of JSON outside /v1, where no credential is checked before the body', async () => {
    const body = (n: number) => JSON.stringify({ email: 'a@example.com', password: 'p'.repeat(n) });
    const over = await call(t.server.url, 'POST', '/api/auth/login', { rawBody: body(128 * 1024) });
    expect([over.status, over.body.error.type]).toEqual([413, 'payload_too_large']);
    // Within it, the route reads the body (and finds the password too long).
    const within = await call(t.server.url, 'POST', '/api/auth/login', { rawBody: body(120 * 1024) });
    expect([within.status, within.body.error.param]).toEqual([400, 'password']);
  });

  it('takes JSON in UTF-8 only: in UTF-16 a character can read as brackets to the depth check', async () => {
    // "丢" is 0x4E22 and "学" 0x5B66: as UTF-16LE bytes, a quote and then brackets.
    const text = JSON.stringify({ email: `${'丢'}${'学'.repeat(70)}@example.com`, password: 'x' });
    const res = await call(t.server.url, 'POST', '/api/auth/login', {
      rawBody: new Blob([Buffer.from(text, 'utf16le')]),
      headers: { 'content-type': 'application/json; charset=utf-16le' },
    });
    expect([res.status, res.body.error.type, res.body.error.message]).toEqual([
      400,
      'invalid_request_error',
      `Unsupported charset "utf-16le": ${SEND_UTF8}`,
    ]);
    // A charset misspelled (keys32): the message names it, and what to send.
    const misspelled = await call(t.server.url, 'POST', '/api/auth/login', {
      rawBody: JSON.stringify({ email: 'a@example.com', password: 'x' }),
      headers: { 'content-type': 'application/json; charset=utf8' },
    });
    expect([misspelled.status, misspelled.body.error.message]).toEqual([
      400,
      `Unsupported charset "utf8": ${SEND_UTF8}`,
    ]);
  });

  it('refuses bytes that are not UTF-8, which would be read as U+FFFD: two references would be one', async () => {
    const body = Buffer.concat([
      Buffer.from('{"email":"a@example.com","password":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}'),
    ]);
    const res = await call(t.server.url, 'POST', '/api/auth/login', { rawBody: new Blob([body]) });
    expect([res.status, res.body.error.type, res.body.error.message]).toEqual([
      400,
      'invalid_request_error',
      'The body is not valid UTF-8 (JSON is UTF-8: RFC 8259)',
    ]);
  });

  it('counts a client that hangs up mid-body as its own doing, not as a 500, on /api and the /v1 fast path', async () => {
    const served500 = async () =>
      (await (await fetch(`${t.server.url}/metrics`)).text())
        .split('\n')
        .filter(
          (l) => l.startsWith('gateway_http_request_duration_seconds_count{') && l.includes('status="500"'),
        )
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    const before = await served500();
    const { hostname, port } = new URL(t.server.url);
    for (const path of ['/api/auth/login', '/v1/chat/completions']) {
      const socket = connect(Number(port), hostname);
      socket.on('error', () => {});
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n` +
          'Authorization: Bearer gc-unknown\r\n\r\n{"email":',
      );
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(await served500()).toBe(before);
  });

  it('refuses a body nesting too deep before parsing it, gzipped or not', async () => {
    // Unclosed, so JSON.parse would call it malformed: the depth check runs first, on the bytes,
    // and a few KiB of gzip cannot make the api parse megabytes of brackets.
    const deep = '['.repeat(60_000);
    for (const [rawBody, headers] of [
      [deep, {}],
      [new Blob([gzipSync(deep)]), { 'content-encoding': 'gzip' }],
    ] as const) {
      const res = await call(t.server.url, 'POST', '/api/auth/login', { rawBody, headers });
      expect([res.status, res.body.error.message]).toEqual([
        400,
        'The JSON body nests more than 64 levels deep',
      ]);
    }
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded'])(
    'says a %s body is not JSON rather than that a field is missing',
    async (type) => {
      const res = await call(t.server.url, 'POST', '/api/auth/register', {
        rawBody: JSON.stringify({ email: 'a@example.com', password: 'long enough password' }),
        headers: { 'content-type': type },
      });
      expect([res.status, res.body.error.type, res.body.error.param]).toEqual([
        400,
        'invalid_request_error',
        null,
      ]);
      expect(res.body.error.message).toContain('application/json');
    },
  );

  it('serves an OpenAPI 3.1 document', async () => {
    const res = await call(t.server.url, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    for (const path of [
      '/api/auth/register',
      '/api/management/keys/{id}/children',
      '/v1/chat/completions',
      '/v1/batches',
      '/api/account/ledger/{id}',
      '/v1/files',
    ])
      expect(Object.keys(res.body.paths)).toContain(path);
    expect(Object.keys(res.body.paths['/v1/files/{id}'])).toEqual(['get', 'delete']);
    expect(JSON.stringify(res.body.paths['/v1/files'].get.parameters)).toContain('purpose');
    // Generated from the zod schema that validates the request: its fields are there.
    const chat = res.body.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema;
    expect(JSON.stringify(chat)).toContain('max_tokens');
    // The auth middleware's answers are on every route it guards; the operations routes are there.
    expect(Object.keys(res.body.paths['/api/management/keys'].get.responses)).toEqual(
      expect.arrayContaining(['200', '401', '403', '503']),
    );
    expect(Object.keys(res.body.paths['/v1/chat/completions'].post.responses)).toEqual(
      expect.arrayContaining(['401', '403']),
    );
    expect(res.body.paths['/api/auth/login'].post.responses['403']).toBeUndefined();
    for (const path of ['/healthz', '/readyz', '/metrics']) expect(res.body.paths[path]?.get).toBeDefined();
  });
});
