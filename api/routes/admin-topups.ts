import { Router } from 'express';
import { adminTopup, adminTopupBody } from '../../shared/accounts/admin-topup.js';
import type { Context } from '../../shared/context.js';
import { parse } from '../../shared/validate.js';
import { requireAdmin } from '../middleware/auth.js';
import { registry } from '../openapi.js';
import { topupResponse } from '../schemas/accounts.js';
import { errorResponse, errorResponses } from '../schemas/common.js';

export function adminTopupsRouter(ctx: Context): Router {
  const r = Router({ mergeParams: true });
  r.use(requireAdmin(ctx));

  r.post('/', async (req, res) => {
    const order = parse(adminTopupBody, req.body);
    const { entry, created } = await adminTopup(ctx, order);
    // A replay answers as the first call did (API.md: 201 and the entry), as idempotent APIs do;
    // the header tells it apart, and the credit exists exactly once.
    if (!created) res.setHeader('idempotent-replayed', 'true');
    res.status(201).json(entry);
  });

  return r;
}

registry.registerPath({
  method: 'post',
  path: '/api/admin/topups',
  tags: ['admin'],
  summary:
    'Credit an account (by account_id or email) in nGNK or USDT; idempotent on reference. Needs ADMIN_TOKEN.',
  request: { body: { content: { 'application/json': { schema: adminTopupBody } } } },
  responses: {
    201: {
      description:
        'Credited; or, when this reference was already credited, the original entry again with the header idempotent-replayed: true',
      content: { 'application/json': { schema: topupResponse } },
      headers: {
        'idempotent-replayed': {
          description: '`true` when this reference was credited before and this is its original entry',
          schema: { type: 'string' },
        },
      },
    },
    ...errorResponses(404, 409),
    401: errorResponse('No admin token, or a wrong one'),
    403: errorResponse('permission_error: a session token or an API key, not the admin token'),
  },
});
