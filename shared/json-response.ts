import type { ServerResponse } from 'node:http';

/**
 * A JSON answer, byte for byte what Express's `res.status(s).json(body)` sends (same content type,
 * a content length), for handlers that also run outside Express (see fast-v1.ts).
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(json));
  res.end(json);
}
