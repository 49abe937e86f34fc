import type { Db } from '../client.js';

export type ChildKeyStatus = 'active' | 'disabled' | 'expired' | 'deleted';
export type JsonObject = Record<string, unknown>;

export interface ChildKeyRow {
  id: string;
  account_id: string;
  management_key_id: string;
  name: string;
  key_prefix: string;
  status: ChildKeyStatus;
  limit_daily_ngonka: bigint | null;
  limit_monthly_ngonka: bigint | null;
  rate_limit_rpm: number | null;
  expires_at: Date | null;
  metadata: JsonObject;
  version: bigint;
  created_at: Date;
  last_used_at: Date | null;
  deleted_at: Date | null;
  /** The secret's hash; the one the last rotation replaced, and until when it still works. */
  key_hash: Buffer;
  previous_key_hash: Buffer | null;
  previous_key_expires_at: Date | null;
}

/** What the owner controls on a child key; everything else is bookkeeping. */
export interface ChildKeySettings {
  name: string;
  status: ChildKeyStatus;
  limit_daily_ngonka: bigint | null;
  limit_monthly_ngonka: bigint | null;
  rate_limit_rpm: number | null;
  expires_at: Date | null;
  metadata: JsonObject;
}

const COLUMNS = `id, account_id, management_key_id, name, key_prefix, status, limit_daily_ngonka,
  limit_monthly_ngonka, rate_limit_rpm, expires_at, metadata, version, created_at, last_used_at, deleted_at,
  key_hash, previous_key_hash, previous_key_expires_at`;

export interface NewChildKey extends Omit<ChildKeySettings, 'status'> {
  id: string;
  accountId: string;
  managementKeyId: string;
  keyHash: Buffer;
  keyPrefix: string;
  /** From the context clock, like every other timestamp the gateway writes. */
  createdAt: Date;
}

export async function insertChildKey(db: Db, k: NewChildKey): Promise<ChildKeyRow> {
  const [row] = await db<ChildKeyRow[]>`
    insert into child_keys (id, account_id, management_key_id, name, key_hash, key_prefix,
      limit_daily_ngonka, limit_monthly_ngonka, rate_limit_rpm, expires_at, metadata, created_at)
    values (${k.id}, ${k.accountId}, ${k.managementKeyId}, ${k.name}, ${k.keyHash}, ${k.keyPrefix},
      ${k.limit_daily_ngonka}, ${k.limit_monthly_ngonka}, ${k.rate_limit_rpm}, ${k.expires_at},
      ${db.json(k.metadata as Parameters<Db['json']>[0])}, ${k.createdAt})
    returning ${db.unsafe(COLUMNS)}`;
  if (!row) throw new Error('insert into child_keys returned no row');
  return row;
}

/**
 * The children of one management key, newest first. `status` filters on the status clients see:
 * a key past its expiry counts as expired even before the scheduler has flipped its row.
 */
export async function listChildKeys(
  db: Db,
  accountId: string,
  managementKeyId: string,
  filter: {
    status?: ChildKeyStatus;
    now: Date;
    /** Names containing this, in any case. */
    name?: string;
    /** Only those after this key of the list, in its order (newest first). */
    afterId?: string;
    limit?: number;
    /** Only keys whose metadata has each of these keys with this value (compared as text). */
    metadata?: Record<string, string>;
    /** Only these keys. */
    ids?: string[];
  },
): Promise<ChildKeyRow[]> {
  const expired = db`(expires_at is not null and expires_at <= ${filter.now})`;
  const byStatus =
    filter.status === undefined
      ? db``
      : filter.status === 'deleted'
        ? db`and status = 'deleted'`
        : filter.status === 'expired'
          ? db`and (status = 'expired' or (status in ('active', 'disabled') and ${expired}))`
          : db`and status = ${filter.status} and not ${expired}`;
  // A name's % and _ are its own characters, not patterns.
  const byName =
    filter.name === undefined ? db`` : db`and name ilike ${`%${filter.name.replace(/[\\%_]/g, '\\$&')}%`}`;
  const after =
    filter.afterId === undefined
      ? db``
      : db`and (created_at, id) < (select created_at, id from child_keys where id = ${filter.afterId})`;
  const byMetadata = Object.entries(filter.metadata ?? {}).reduce(
    (rest, [k, v]) => db`and metadata->>${k} = ${v} ${rest}`,
    db``,
  );
  const byIds = filter.ids === undefined ? db`` : db`and id = any(${filter.ids})`;
  return db<ChildKeyRow[]>`
    select ${db.unsafe(COLUMNS)} from child_keys
    where account_id = ${accountId} and management_key_id = ${managementKeyId} ${byStatus} ${byName} ${after}
      ${byMetadata} ${byIds}
    order by created_at desc, id desc
    ${filter.limit === undefined ? db`` : db`limit ${filter.limit}`}`;
}

/** One child of this management key and account, or null (others' keys look like no key). */
export async function findChildKey(
  db: Db,
  accountId: string,
  managementKeyId: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<ChildKeyRow | null> {
  const [row] = await db<ChildKeyRow[]>`
    select ${db.unsafe(COLUMNS)} from child_keys
    where account_id = ${accountId} and management_key_id = ${managementKeyId} and id = ${id}
    ${opts.forUpdate ? db.unsafe('for update') : db``}`;
  return row ?? null;
}

/**
 * Writes the full settings of a locked row; the version moves in the same statement so the Redis copy
 * only ever advances. `deleted_at` is stamped once, when the status first becomes deleted.
 */
export async function updateChildKey(
  db: Db,
  id: string,
  next: ChildKeySettings,
  at: Date,
): Promise<ChildKeyRow> {
  const [row] = await db<ChildKeyRow[]>`
    update child_keys set
      name = ${next.name},
      status = ${next.status},
      limit_daily_ngonka = ${next.limit_daily_ngonka},
      limit_monthly_ngonka = ${next.limit_monthly_ngonka},
      rate_limit_rpm = ${next.rate_limit_rpm},
      -- On the right of a set, rate_limit_rpm is the value before this update.
      rpm_limit_cleared_at = case when rate_limit_rpm is not null and ${next.rate_limit_rpm}::int4 is null
                                  then ${at} else rpm_limit_cleared_at end,
      expires_at = ${next.expires_at},
      -- On the right, the values before this update: a limit or status that changes may put the
      -- key past a threshold with no new spend (limit-alerts reads it as a candidate).
      limits_changed_at = case when limit_daily_ngonka is distinct from ${next.limit_daily_ngonka}::int8
                                 or limit_monthly_ngonka is distinct from ${next.limit_monthly_ngonka}::int8
                                 or status is distinct from ${next.status}
                               then ${at} else limits_changed_at end,
      metadata = ${db.json(next.metadata as Parameters<Db['json']>[0])},
      deleted_at = case when ${next.status} = 'deleted' then coalesce(deleted_at, ${at}) end,
      version = version + 1
    where id = ${id}
    returning ${db.unsafe(COLUMNS)}`;
  if (!row) throw new Error(`child key ${id} vanished while locked`);
  return row;
}

/**
 * Give a locked child key a new secret (its rotation), the version moved as updateChildKey moves it.
 * The secret replaced is kept as the previous one, working until `previousUntil` (`at` itself for
 * none: kept so that it is still told apart as a rotated secret, not an unknown one); a previous
 * one from an earlier rotation is dropped.
 */
export async function rotateChildKeySecret(
  db: Db,
  id: string,
  next: { keyHash: Buffer; keyPrefix: string; previousUntil: Date },
): Promise<ChildKeyRow> {
  const [row] = await db<ChildKeyRow[]>`
    update child_keys set
      previous_key_hash = key_hash,
      previous_key_expires_at = ${next.previousUntil},
      key_hash = ${next.keyHash},
      key_prefix = ${next.keyPrefix},
      version = version + 1
    where id = ${id}
    returning ${db.unsafe(COLUMNS)}`;
  if (!row) throw new Error(`child key ${id} vanished while locked`);
  return row;
}

/**
 * Delete every child of a management key not deleted yet (its revocation), each version moved on
 * as updateChildKey moves it; returns them for their Redis state.
 */
export async function deleteChildrenOf(
  db: Db,
  accountId: string,
  managementKeyId: string,
  at: Date,
): Promise<ChildKeyRow[]> {
  return db<ChildKeyRow[]>`
    update child_keys set status = 'deleted', deleted_at = ${at}, version = version + 1
    where account_id = ${accountId} and management_key_id = ${managementKeyId} and status <> 'deleted'
    returning ${db.unsafe(COLUMNS)}`;
}
