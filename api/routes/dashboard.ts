import path from 'node:path';
import express, { type RequestHandler, Router } from 'express';
import { assetPath } from '../../shared/assets.js';
import { registry } from '../openapi.js';

/** The dashboard's static files: plain ES modules, no build step. */
const DASHBOARD_DIR = assetPath('api/dashboard/');

/**
 * The browser may load only this origin's scripts and styles, and talk only to this origin's API.
 * The JWT lives in sessionStorage, so keeping third-party code and framing out is what protects it.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Mounted at /dashboard. The page answers at /dashboard (API.md) and /dashboard/ alike: its own
 * URLs are absolute (index.html), so neither needs a redirect to find them.
 */
export function dashboardRouter(): Router {
  const r = Router();
  r.use((_req, res, next) => {
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    next();
  });
  // `no-cache` revalidates with the ETag each time, so a deploy is picked up without a build hash.
  r.use(
    express.static(DASHBOARD_DIR, { index: 'index.html', cacheControl: true, maxAge: 0, redirect: false }),
  );
  r.get('/', (_req, res) => res.sendFile(path.join(DASHBOARD_DIR, 'index.html'), { maxAge: 0 }));
  return r;
}

/** GET /: a browser opening the gateway's address finds the dashboard, not a JSON 404. */
export const toDashboard: RequestHandler = (_req, res) => res.redirect(302, '/dashboard/');

registry.registerPath({
  method: 'get',
  path: '/',
  tags: ['operations'],
  summary: 'The gateway’s address in a browser: to the dashboard',
  security: [],
  responses: {
    302: {
      description: 'To /dashboard/',
      headers: { location: { schema: { type: 'string', const: '/dashboard/' } } },
    },
  },
});

// The page only: its scripts and styles are files of the page, not API.
registry.registerPath({
  method: 'get',
  path: '/dashboard',
  tags: ['operations'],
  summary: 'The web dashboard',
  security: [],
  responses: {
    200: {
      description: 'The page (also at /dashboard/)',
      content: { 'text/html': { schema: { type: 'string' } } },
    },
  },
});
