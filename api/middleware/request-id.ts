import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

/** Honour a caller's x-request-id (trimmed, bounded) or make one; echo it on every response. */
export const requestId: RequestHandler = (req, res, next) => {
  const given = req.header('x-request-id');
  const id = given && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
  res.locals.requestId = id;
  res.setHeader('x-request-id', id);
  next();
};
