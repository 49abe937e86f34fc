import type { ServerResponse } from 'node:http';
import { type ApiError, errorBody, statusOf } from './errors.js';

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

/** An ApiError as the api answers it (its headers, its status, the one error envelope). */
export function sendApiError(res: ServerResponse, e: ApiError): void {
  for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
  sendJson(res, statusOf(e.type), errorBody(e));
}
