import { Router } from 'express';
import { z } from 'zod';
import { accountUsage } from '../../shared/accounts/usage.js';
import { getAccountView } from '../../shared/accounts/view.js';
import type { Context } from '../../shared/context.js';
import { setLowBalanceAlert } from '../../shared/db/queries/balance-alerts.js';
import {
  findLedgerEntry,
  listChargedRequests,
  listLedgerEntries,
} from '../../shared/db/queries/ledger-entries.js';
import { ApiError } from '../../shared/errors.js';
import { formatChargedRequest, formatEntry } from '../../shared/ledger/entries.js';
import { entryIdsOf } from '../../shared/ledger/entry-ids.js';
import { parse } from '../../shared/validate.js';
import { requireOwner } from '../middleware/auth.js';
import { registry } from '../openapi.js';
import {
  accountResponse,
  ledgerEntryDetailResponse,
  ledgerPageResponse,
  updateAccountBody,
  usageOf,
  usageQuery,
  usageResponse,
} from '../schemas/accounts.js';
import { queryLimit } from '../schemas/common.js';

// Strict, as every list's query: a filter this route does not take (key_id) is a 400, not ignored
// into a total that reads as the filtered one.
const ledgerQuery = z.strictObject({
  limit: queryLimit(100, 50),
  cursor: z.string().optional(),
});

export function accountRouter(ctx: Context): Router {
  const r = Router({ mergeParams: true });
  r.use(requireOwner(ctx));

  const view = async (accountId: string) => {
    const account = await getAccountView(ctx, accountId);
    // A valid session for an account that no longer exists is no session at all.
    if (!account) throw new ApiError('authentication_error', 'Account not found for this session');
    return account;
  };

  r.get('/', async (_req, res) => {
    res.json(await view(res.locals.accountId));
  });

  // Beyond API.md: the account's own settings (its low-balance alert).
  r.patch('/', async (req, res) => {
    const body = parse(updateAccountBody, req.body);
    if (body.low_balance_alert_ngonka !== undefined)
      await setLowBalanceAlert(ctx.sql, res.locals.accountId, body.low_balance_alert_ngonka);
    res.json(await view(res.locals.accountId));
  });

  r.get('/ledger', async (req, res) => {
    const q = parse(ledgerQuery, req.query);
    const ids = await entryIdsOf(ctx.sql);
    let before: bigint | undefined;
    if (q.cursor !== undefined) {
      const parsed = ids.decode(q.cursor);
      if (parsed === null) throw ApiError.invalid('cursor', 'cursor is not a ledger entry id');
      before = parsed;
    }
    // One row past the page says whether there is another: a cursor only where more entries follow.
    const rows = await listLedgerEntries(ctx.sql, res.locals.accountId, { before, limit: q.limit + 1 });
    const data = rows.slice(0, q.limit).map((e) => formatEntry(e, ids));
    const next = rows.length > q.limit ? (data.at(-1)?.id ?? null) : null;
    res.json({ data, next_cursor: next });
  });

  // One entry; a charge lists the requests it billed (at most one settlement batch: ≤ 500).
  r.get('/ledger/:id', async (req, res) => {
    const accountId: string = res.locals.accountId;
    const ids = await entryIdsOf(ctx.sql);
    const id = ids.decode(String(req.params.id));
    const row = id === null ? null : await findLedgerEntry(ctx.sql, accountId, id);
    if (!row) throw ApiError.notFound('Ledger entry');
    const entry = formatEntry(row, ids);
    if (row.kind !== 'charge') {
      res.json(entry);
      return;
    }
    const requests = await listChargedRequests(ctx.sql, accountId, row.ref);
    res.json({ ...entry, requests: requests.map(formatChargedRequest) });
  });

  r.get('/usage', async (req, res) => {
    const q = parse(usageQuery, req.query);
    res.json(await accountUsage(ctx, res.locals.accountId, usageOf(q)));
  });

  return r;
}

registry.registerPath({
  method: 'get',
  path: '/api/account',
  tags: ['accounts'],
  summary: 'The signed-in account with its balance, holds and available nGNK',
  responses: {
    200: { description: 'OK', content: { 'application/json': { schema: accountResponse } } },
  },
});

registry.registerPath({
  method: 'patch',
  path: '/api/account',
  tags: ['accounts'],
  summary: 'Change the account’s settings: its low-balance alert',
  description:
    'With `low_balance_alert_ngonka` set, the webhook event `account.low_balance` ' +
    '(`{account_id, balance_ngonka, available_ngonka, threshold_ngonka}`) is sent when the balance falls below it, ' +
    'within SCHEDULER_LIMIT_ALERTS_CRON (30 s), once until a top-up brings it back to the threshold or above.',
  request: { body: { content: { 'application/json': { schema: updateAccountBody } } } },
  responses: {
    200: { description: 'The account', content: { 'application/json': { schema: accountResponse } } },
  },
});

registry.registerPath({
  method: 'get',
  path: '/api/account/ledger',
  tags: ['accounts'],
  summary: 'Ledger entries, newest first; pass next_cursor as cursor for the next page',
  description:
    'A charge bills the requests one settlement batch settled for the account (metadata.requests, with their ' +
    'prompt_tokens and completion_tokens): one entry per batch, not per request. A referral entry shares the ref ' +
    'of the charge it was paid from.',
  request: { query: ledgerQuery },
  responses: {
    200: { description: 'OK', content: { 'application/json': { schema: ledgerPageResponse } } },
  },
});

registry.registerPath({
  method: 'get',
  path: '/api/account/ledger/{id}',
  tags: ['accounts'],
  summary: 'One ledger entry; a charge lists the requests it billed, each with its own cost and tokens',
  request: { params: z.object({ id: z.string().describe('A ledger entry id, le_…') }) },
  responses: {
    200: { description: 'OK', content: { 'application/json': { schema: ledgerEntryDetailResponse } } },
  },
});

registry.registerPath({
  method: 'get',
  path: '/api/account/usage',
  tags: ['accounts'],
  summary: 'Settled usage per UTC day, child key or model (at most 366 days)',
  request: { query: usageQuery },
  responses: {
    200: { description: 'OK', content: { 'application/json': { schema: usageResponse } } },
  },
});
