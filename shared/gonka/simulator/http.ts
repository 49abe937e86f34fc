import type { IncomingMessage, ServerResponse } from 'node:http';

/** Bodies above this are refused: the simulator is a test double, not a file store. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
}

/** The raw request bytes: signatures are over exactly these, so they are not re-encoded. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLargeError('request body too large'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * A Gonka node's own error: echo's HTTPError through the node's TransparentErrorHandler, which
 * answers `{"error": "<message>"}` (a string, not OpenAI's object). What vLLM refuses reaches the
 * client wrapped in that string too (see chat.ts overContext).
 */
export function sendNodeError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
