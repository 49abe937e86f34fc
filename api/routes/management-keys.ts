import { Router } from 'express';
import { accountUsage } from '../../shared/accounts/usage.js';
import { publishChildKeyState, publishManagementKeyState } from '../../shared/admission/key-state.js';
import { generateApiKey } from '../../shared/api-keys.js';
import type { Context } from '../../shared/context.js';
import { type ChildKeyRow, deleteChildrenOf } from '../../shared/db/queries/child-keys.js';
import {
  countKeysInTurn,
  findManagementKey,
  insertManagementKey,
  listManagementKeys,
  lockManagementKey,
  type ManagementKeyListRow,
  revokeManagementKey,
  rotateManagementKeySecret,
  updateManagementKey,
} from '../../shared/db/queries/management-keys.js';
import { ApiError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { parse } from '../../shared/validate.js';
import { requireOwner, requireOwnerOrManagementKey } from '../middleware/auth.js';
import { usageOf, usageQuery } from '../schemas/accounts.js';
import { rotationGraceEnd } from '../schemas/common.js';
import {
  createManagementKeyBody,
  managementKeyJson,
  managementKeyParams,
  rotateManagementKeyBody,
  updateManagementKeyBody,
} from '../schemas/management-keys.js';
import './management-keys.openapi.js';

const revokedConflict = () =>
  new ApiError('conflict', 'Management key is revoked; revocation is final (create a new key)');

/**
 * Owner-only (session JWT). Auth is attached per route, not with `router.use`: this router is mounted
 * at /api/management/keys and so also sees /:id/children requests, which a `gm-` key may make.
 *
 * Status semantics, as admission reads them from Redis:
 * - disabled: only the `gm-` key itself stops working; its children keep serving inference, so an
 *   owner can freeze automation without cutting off their own customers.
 * - revoked (DELETE): final; every child stops at once, because admission checks the parent's state
 *   on each request. Publishing the parent's state is enough; child rows are left untouched.
 */
export function managementKeysRouter(ctx: Context): Router {
  const r = Router({ mergeParams: true });
  const owner = requireOwner(ctx);

  const load = async (accountId: string, id: string): Promise<ManagementKeyListRow> => {
    const mk = await findManagementKey(ctx.sql, accountId, id);
    if (!mk) throw ApiError.notFound('Management key');
    return mk;
  };

  r.post('/', owner, async (req, res) => {
    const body = parse(createManagementKeyBody, req.body);
    const key = generateApiKey('gm');
    const accountId: string = res.locals.accountId;
    const max = ctx.config.MANAGEMENT_KEYS_MAX;
    const row = await ctx.sql.begin(async (tx) => {
      if ((await countKeysInTurn(tx, accountId)) >= max)
        throw new ApiError(
          'invalid_request_error',
          `An account may have at most ${max} management keys; revoke one before adding another`,
          { param: null },
        );
      return insertManagementKey(tx, {
        id: newId('mk'),
        accountId,
        name: body.name,
        keyHash: key.hash,
        keyPrefix: key.prefix,
        createdAt: ctx.clock.now(),
      });
    });
    await publishManagementKeyState(ctx, row);
    res
      .status(201)
      .json({ ...managementKeyJson({ ...row, children_count: 0 }, ctx.clock.now()), key: key.plain });
  });

  r.get('/', owner, async (_req, res) => {
    const rows = await listManagementKeys(ctx.sql, res.locals.accountId);
    const now = ctx.clock.now();
    res.json({ data: rows.map((k) => managementKeyJson(k, now)) });
  });

  r.get('/:id', owner, async (req, res) => {
    const { id } = parse(managementKeyParams, req.params);
    res.json(managementKeyJson(await load(res.locals.accountId, id), ctx.clock.now()));
  });

  r.patch('/:id', owner, async (req, res) => {
    const { id } = parse(managementKeyParams, req.params);
    const body = parse(updateManagementKeyBody, req.body);
    const accountId = res.locals.accountId;
    const row = await ctx.sql.begin(async (tx) => {
      const cur = await lockManagementKey(tx, accountId, id, 'update');
      if (!cur) throw ApiError.notFound('Management key');
      if (cur.status === 'revoked') throw revokedConflict();
      return updateManagementKey(tx, id, {
        name: body.name ?? cur.name,
        status: body.status ?? cur.status,
      });
    });
    await publishManagementKeyState(ctx, row);
    res.json(managementKeyJson(await load(accountId, id), ctx.clock.now()));
  });

  // A new `gm-` secret without touching the key's children: revoking a leaked key would delete them,
  // and a new management key cannot adopt them. The old secret stops at once (401 key_revoked), or
  // after `grace_period_seconds` for a planned rotation, as for child keys.
  r.post('/:id/rotate', owner, async (req, res) => {
    const { id } = parse(managementKeyParams, req.params);
    const { grace_period_seconds: grace } = parse(rotateManagementKeyBody, req.body);
    const accountId = res.locals.accountId;
    const now = ctx.clock.now();
    const key = generateApiKey('gm');
    await ctx.sql.begin(async (tx) => {
      const cur = await lockManagementKey(tx, accountId, id, 'update');
      if (!cur) throw ApiError.notFound('Management key');
      if (cur.status === 'revoked') throw revokedConflict();
      await rotateManagementKeySecret(tx, id, {
        keyHash: key.hash,
        keyPrefix: key.prefix,
        previousUntil: rotationGraceEnd(cur, grace, now),
      });
    });
    res.json({ ...managementKeyJson(await load(accountId, id), now), key: key.plain });
  });

  // Beyond API.md: what the key's child keys spent, for a backend that has only its gm- key (a
  // reseller billing its customers) as for the owner: GET /api/account/usage, narrowed to them.
  r.get('/:id/usage', requireOwnerOrManagementKey(ctx), async (req, res) => {
    const { id } = parse(managementKeyParams, req.params);
    const q = parse(usageQuery, req.query);
    await load(res.locals.accountId, id);
    res.json(await accountUsage(ctx, res.locals.accountId, usageOf(q, id)));
  });

  const PUBLISH_AT_ONCE = 500;
  // Idempotent: revoking a revoked key answers with it unchanged, and publishes its state again (the
  // first revoke's publish may have failed after its commit; the version makes a repeat harmless).
  // Its children are deleted with it: a revoked key is never restored, so they can never serve again,
  // and showing them active would say otherwise. (Their Redis states follow; the key's own state is
  // what stops them at once, and the scheduled check puts back any state a failed publish missed.)
  r.delete('/:id', owner, async (req, res) => {
    const { id } = parse(managementKeyParams, req.params);
    const accountId = res.locals.accountId;
    const now = ctx.clock.now();
    const children = await ctx.sql.begin(
      async (tx): Promise<ChildKeyRow[]> =>
        (await revokeManagementKey(tx, accountId, id, now)) ? deleteChildrenOf(tx, accountId, id, now) : [],
    );
    const mk = await load(accountId, id);
    await publishManagementKeyState(ctx, mk);
    // Many at a time (ioredis pipelines what is in flight): one round trip per child made a 15,000-key
    // revoke take 8 s, past a load balancer's patience at the 100,000-key cap.
    for (let i = 0; i < children.length; i += PUBLISH_AT_ONCE)
      await Promise.all(children.slice(i, i + PUBLISH_AT_ONCE).map((c) => publishChildKeyState(ctx, c)));
    res.json(managementKeyJson(mk, ctx.clock.now()));
  });

  return r;
}
