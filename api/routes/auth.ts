import { Router } from 'express';
import { z } from 'zod';
import { login } from '../../shared/accounts/login.js';
import { registerAccount } from '../../shared/accounts/register.js';
import { formatAccount } from '../../shared/accounts/view.js';
import type { Context } from '../../shared/context.js';
import { deleteExpiredRevocations, revokeSession } from '../../shared/db/queries/sessions.js';
import { signSession } from '../../shared/jwt.js';
import { parse } from '../../shared/validate.js';
import { requireOwner } from '../middleware/auth.js';
import { registry } from '../openapi.js';
import { accountResponse } from '../schemas/accounts.js';
import { errorResponses } from '../schemas/common.js';

const email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email())
  .describe('email address')
  .meta({ format: 'email' });

const registerBody = z.strictObject({
  email,
  password: z.string().min(8, 'must be at least 8 characters').max(200, 'must be at most 200 characters'),
  // A form's empty optional field often arrives as null or "": no code. One pasted with spaces
  // around it is the code.
  referral_code: z
    .string()
    .trim()
    .pipe(z.union([z.literal(''), z.string().regex(/^[0-9A-Za-z]{1,32}$/, 'must be a referral code')]))
    .nullish(),
});

// The password cap keeps a huge body from buying a long scrypt run.
const loginBody = z.strictObject({
  email,
  password: z.string().min(1, 'is required').max(200, 'must be at most 200 characters'),
});

export function authRouter(ctx: Context): Router {
  const r = Router({ mergeParams: true });

  r.post('/register', async (req, res) => {
    const body = parse(registerBody, req.body);
    const account = await registerAccount(ctx, {
      email: body.email,
      password: body.password,
      referralCode: body.referral_code || undefined,
      ip: req.ip ?? '',
    });
    const token = await signSession(ctx.config.JWT_SECRET, account.id, ctx.config.JWT_TTL_SECONDS);
    res.status(201).json({ account: formatAccount(account, { balance: 0n, held: 0n }), token });
  });

  r.post('/login', async (req, res) => {
    const body = parse(loginBody, req.body);
    const token = await login(ctx, { email: body.email, password: body.password, ip: req.ip ?? '' });
    res.json({ token });
  });

  // The session ends here, not only in the browser: its token, wherever a copy of it is, is refused
  // from now on (until it would have expired anyway).
  r.post('/logout', requireOwner(ctx), async (_req, res) => {
    const session = res.locals.session!;
    if (session.jti !== null) {
      await revokeSession(ctx.sql, {
        jti: session.jti,
        accountId: session.accountId,
        expiresAt: session.expiresAt,
      });
      await deleteExpiredRevocations(ctx.sql, ctx.clock.now());
    }
    res.status(204).end();
  });

  return r;
}

registry.registerPath({
  method: 'post',
  path: '/api/auth/register',
  tags: ['accounts'],
  summary: 'Create an account; returns it with a session token (throttled per IP)',
  security: [],
  request: { body: { content: { 'application/json': { schema: registerBody } } } },
  responses: {
    201: {
      description: 'Created',
      content: { 'application/json': { schema: z.object({ account: accountResponse, token: z.string() }) } },
    },
    ...errorResponses(409, 429),
  },
});

registry.registerPath({
  method: 'post',
  path: '/api/auth/login',
  tags: ['accounts'],
  summary: 'Exchange email and password for a session token (throttled per email and IP, and per IP)',
  security: [],
  request: { body: { content: { 'application/json': { schema: loginBody } } } },
  responses: {
    200: { description: 'OK', content: { 'application/json': { schema: z.object({ token: z.string() }) } } },
    ...errorResponses(401, 429),
  },
});

registry.registerPath({
  method: 'post',
  path: '/api/auth/logout',
  tags: ['accounts'],
  summary: 'End the session whose token is presented: from now on that token is refused (401) everywhere',
  responses: {
    204: { description: 'Logged out' },
    ...errorResponses(401),
  },
});
