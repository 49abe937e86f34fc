import { randomUUID } from 'node:crypto';
import { type OutgoingHttpHeaders, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ApiError, errorBody, statusOf } from '../shared/errors.js';

/** Headers of the answer in flight that the raw answer must not repeat: it frames its own body. */
const FRAMING = new Set(['content-length', 'content-type', 'transfer-encoding', 'connection']);

/**
 * The requests Node answers itself, before or beside any handler: one whose request line or headers
 * it cannot parse (400), headers over its limit (431), a request not received whole within
 * REQUEST_TIMEOUT_MS (408, a slow upload say). Node's own answer is a bare status line; these get the
 * error envelope and an x-request-id like every other answer (API.md "Conventions"), and the headers
 * the handler already set when one was running (its request id, /v1's CORS and RPM headers).
 */
export function answerClientErrors(server: Server, requestTimeoutMs: number): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // As Node's own handler: answer only while no byte of a response has gone out on the socket
    // (a reset peer has nobody to read it).
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent)
      socket.write(rawAnswer(errorOf(err, requestTimeoutMs), inFlight?.getHeaders() ?? {}));
    socket.destroy(err);
  });
}

function errorOf(err: NodeJS.ErrnoException, requestTimeoutMs: number): ApiError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError(
        'request_timeout',
        `The request did not arrive whole within ${requestTimeoutMs} ms`,
      );
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError('headers_too_large', 'The request headers are too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ApiError('payload_too_large', 'The chunk extensions of the body are too large');
    default:
      return new ApiError('invalid_request_error', 'The request is not valid HTTP', { param: null });
  }
}

/** A whole HTTP/1.1 answer that closes the connection. */
function rawAnswer(e: ApiError, set: OutgoingHttpHeaders): string {
  const status = statusOf(e.type);
  const body = JSON.stringify(errorBody(e));
  const headers: OutgoingHttpHeaders = { 'x-request-id': randomUUID() };
  for (const [name, value] of Object.entries(set)) if (!FRAMING.has(name)) headers[name] = value;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status]}`];
  for (const [name, value] of Object.entries(headers))
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${v}`);
  lines.push(
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
  );
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}
