import { Router } from 'express';
import { publishChildKeyState } from '../../shared/admission/key-state.js';
import { countRequestsBeforeLimit } from '../../shared/admission/rpm-window.js';
import { generateApiKey } from '../../shared/api-keys.js';
import type { Context } from '../../shared/context.js';
import type { Db } from '../../shared/db/client.js';
import {
  type ChildKeyRow,
  findChildKey,
  insertChildKey,
  listChildKeys,
  rotateChildKeySecret,
  updateChildKey,
} from '../../shared/db/queries/child-keys.js';
import { usageForChildKeys } from '../../shared/db/queries/key-usage.js';
import {
  countKeysInTurn,
  findManagementKey,
  lockManagementKey,
} from '../../shared/db/queries/management-keys.js';
import { ApiError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { applyChildKeyPatch, childKeyUsage, deletedSettings } from '../../shared/keys/child-keys.js';
import { parse } from '../../shared/validate.js';
import { requireOwnerOrManagementKey } from '../middleware/auth.js';
import {
  type ChildKeyJson,
  childKeyJson,
  childKeyParams,
  createChildKeyBody,
  listChildKeysQuery,
  metadataFilters,
  rotateChildKeyBody,
  updateChildKeyBody,
} from '../schemas/child-keys.js';
import { assertFuture, rotationGraceEnd } from '../schemas/common.js';
import { managementKeyParams } from '../schemas/management-keys.js';
import './child-keys.openapi.js';

const mkNotFound = () => ApiError.notFound('Management key');
const childNotFound = () => ApiError.notFound('Child key');
const revokedConflict = () =>
  new ApiError('conflict', 'Management key is revoked: its child keys can no longer be created or changed');

/** Where the child-key routes are mounted: the one mount with a parameter of its own. */
export const CHILD_KEYS_MOUNT = '/api/management/keys/:id/children';

/**
 * Child keys under /api/management/keys/:id/children, for the owner's JWT or that management key's own
 * `gm-` key (the middleware refuses a sibling's). Every change is published to Redis after its commit,
 * so admission applies it on the very next request.
 */
export function childKeysRouter(ctx: Context): Router {
  const r = Router({ mergeParams: true });
  r.use(requireOwnerOrManagementKey(ctx));

  /** Children as JSON with usage, computed for all of them in one query. */
  const render = async (rows: ChildKeyRow[], now: Date): Promise<ChildKeyJson[]> => {
    const usage = await usageForChildKeys(
      ctx.sql,
      rows.map((k) => k.id),
      now,
    );
    return rows.map((k) => childKeyJson(k, childKeyUsage(k, usage.get(k.id), now), now));
  };
  const renderOne = async (row: ChildKeyRow, now: Date) => (await render([row], now))[0]!;

  /** Lock the parent against a concurrent revoke and the child against a concurrent change. */
  const lockChild = async (tx: Db, accountId: string, mkId: string, childId: string) => {
    const mk = await lockManagementKey(tx, accountId, mkId, 'share');
    if (!mk) throw mkNotFound();
    const child = await findChildKey(tx, accountId, mkId, childId, { forUpdate: true });
    if (!child) throw childNotFound();
    return { mk, child };
  };

  r.post('/', async (req, res) => {
    const { id: mkId } = parse(managementKeyParams, req.params);
    const body = parse(createChildKeyBody, req.body);
    const now = ctx.clock.now();
    assertFuture('expires_at', body.expires_at, now);
    const accountId = res.locals.accountId;
    const key = generateApiKey('gc');
    const row = await ctx.sql.begin(async (tx) => {
      // `for share` holds off a concurrent revoke until this child exists.
      const mk = await lockManagementKey(tx, accountId, mkId, 'share');
      if (!mk) throw mkNotFound();
      if (mk.status === 'revoked') throw revokedConflict();
      const max = ctx.config.CHILD_KEYS_MAX;
      if ((await countKeysInTurn(tx, accountId, mkId)) >= max)
        throw new ApiError(
          'invalid_request_error',
          `A management key may have at most ${max} child keys; delete one before adding another`,
          { param: null },
        );
      return insertChildKey(tx, {
        id: newId('ck'),
        accountId,
        managementKeyId: mkId,
        keyHash: key.hash,
        keyPrefix: key.prefix,
        createdAt: now,
        name: body.name,
        limit_daily_ngonka: body.limit_daily_ngonka ?? null,
        limit_monthly_ngonka: body.limit_monthly_ngonka ?? null,
        rate_limit_rpm: body.rate_limit_rpm ?? null,
        expires_at: body.expires_at ?? null,
        metadata: body.metadata ?? {},
      });
    });
    await publishChildKeyState(ctx, row);
    const { id, name, ...rest } = await renderOne(row, now);
    res.status(201).json({ id, name, key: key.plain, ...rest });
  });

  r.get('/', async (req, res) => {
    const { id: mkId } = parse(managementKeyParams, req.params);
    const { metadata, rest } = metadataFilters(req.query);
    const query = parse(listChildKeysQuery, rest);
    const accountId = res.locals.accountId;
    const now = ctx.clock.now();
    if (!(await findManagementKey(ctx.sql, accountId, mkId))) throw mkNotFound();
    // A cursor must be a key of this list: another's (or none) would read as the list's end.
    if (query.after !== undefined && !(await findChildKey(ctx.sql, accountId, mkId, query.after)))
      throw ApiError.invalid('after', 'after must be the id of a child key of this management key');
    const rows = await listChildKeys(ctx.sql, accountId, mkId, {
      status: query.status,
      now,
      ...(query.name !== undefined ? { name: query.name } : {}),
      ...(query.after !== undefined ? { afterId: query.after } : {}),
      ...(query.limit !== undefined ? { limit: query.limit + 1 } : {}),
      ...(query.ids !== undefined ? { ids: query.ids } : {}),
      metadata,
    });
    const page = query.limit === undefined ? rows : rows.slice(0, query.limit);
    res.json({
      data: await render(page, now),
      first_id: page[0]?.id ?? null,
      last_id: page.at(-1)?.id ?? null,
      has_more: rows.length > page.length,
    });
  });

  r.get('/:childId', async (req, res) => {
    const { id: mkId, childId } = parse(childKeyParams, req.params);
    const accountId = res.locals.accountId;
    // A child is found only through its own parent of this account: any other path is a 404.
    const row = await findChildKey(ctx.sql, accountId, mkId, childId);
    if (!row) throw childNotFound();
    res.json(await renderOne(row, ctx.clock.now()));
  });

  r.patch('/:childId', async (req, res) => {
    const { id: mkId, childId } = parse(childKeyParams, req.params);
    const body = parse(updateChildKeyBody, req.body);
    const now = ctx.clock.now();
    assertFuture('expires_at', body.expires_at, now);
    const accountId = res.locals.accountId;
    const { before, row } = await ctx.sql.begin(async (tx) => {
      const { mk, child } = await lockChild(tx, accountId, mkId, childId);
      const next = applyChildKeyPatch(child, body, now); // 409 for a deleted child
      if (mk.status === 'revoked') throw revokedConflict();
      return { before: child, row: await updateChildKey(tx, childId, next, now) };
    });
    await publishChildKeyState(ctx, row);
    await countRequestsBeforeLimit(ctx, before, row, now);
    res.json(await renderOne(row, now));
  });

  // A new secret for the same key: its id, limits, usage and metadata stay, so a leaked secret is
  // replaced without the key's customer getting its limits afresh for the period (a new key would).
  r.post('/:childId/rotate', async (req, res) => {
    const { id: mkId, childId } = parse(childKeyParams, req.params);
    const { grace_period_seconds: grace } = parse(rotateChildKeyBody, req.body);
    const now = ctx.clock.now();
    const accountId = res.locals.accountId;
    const key = generateApiKey('gc');
    const row = await ctx.sql.begin(async (tx) => {
      const { mk, child } = await lockChild(tx, accountId, mkId, childId);
      if (child.status === 'deleted')
        throw new ApiError('conflict', 'Child key is deleted and cannot be rotated');
      if (mk.status === 'revoked') throw revokedConflict();
      return rotateChildKeySecret(tx, childId, {
        keyHash: key.hash,
        keyPrefix: key.prefix,
        previousUntil: rotationGraceEnd(child, grace, now),
      });
    });
    await publishChildKeyState(ctx, row);
    const { id, name, ...rest } = await renderOne(row, now);
    res.json({ id, name, key: key.plain, ...rest });
  });

  // Idempotent: deleting a deleted child answers with it unchanged. Its state is published again
  // all the same: the first DELETE's publish may have failed after its commit (the client saw a
  // 500 and retries), and admission reads only Redis. The version makes a repeat harmless.
  r.delete('/:childId', async (req, res) => {
    const { id: mkId, childId } = parse(childKeyParams, req.params);
    const now = ctx.clock.now();
    const accountId = res.locals.accountId;
    const row = await ctx.sql.begin(async (tx) => {
      const { child } = await lockChild(tx, accountId, mkId, childId);
      if (child.status === 'deleted') return child;
      return updateChildKey(tx, childId, deletedSettings(child), now);
    });
    await publishChildKeyState(ctx, row);
    res.json(await renderOne(row, now));
  });

  return r;
}
