import type { Db } from '../client.js';

export interface ManagementKeyAuthRow {
  id: string;
  account_id: string;
  /** `rotated`: the secret its last rotation replaced, past that rotation's grace. */
  status: 'active' | 'disabled' | 'revoked' | 'rotated';
}

/**
 * The management key behind a `gm-` secret at `now`; a secret its rotation replaced reads as the key
 * while the rotation's grace lasts, then as `rotated` (a 401 key_revoked saying so, as a child key's).
 */
export async function findManagementKeyByHash(
  db: Db,
  hash: Buffer,
  now: Date,
): Promise<ManagementKeyAuthRow | null> {
  const [row] = await db<ManagementKeyAuthRow[]>`
    select id, account_id,
      case when key_hash = ${hash} or previous_key_expires_at > ${now} then status
           when status = 'revoked' then status else 'rotated' end as status
    from management_keys where key_hash = ${hash} or previous_key_hash = ${hash}`;
  return row ?? null;
}

export async function touchManagementKey(db: Db, id: string, at: Date): Promise<void> {
  // Never backwards: two requests' touches may land out of order.
  await db`update management_keys set last_used_at = greatest(last_used_at, ${at}) where id = ${id}`;
}

export interface ChildKeyAuthRow {
  status: 'active' | 'disabled' | 'expired' | 'deleted';
  expires_at: Date | null;
  mk_status: 'active' | 'disabled' | 'revoked';
}

export interface ChildKeySecretStanding extends ChildKeyAuthRow {
  /** The secret is the one the key's last rotation replaced, and until when it works (null: not). */
  previous_until: Date | null;
  is_previous: boolean;
}

/**
 * A child key's standing in the book of record by one of its secrets, the current one or the one
 * its last rotation replaced (off the hot path: /v1 reads it from Redis).
 */
export async function findChildKeyStandingByHash(
  db: Db,
  hash: Buffer,
): Promise<ChildKeySecretStanding | null> {
  const [row] = await db<ChildKeySecretStanding[]>`
    select ck.status, ck.expires_at, mk.status as mk_status,
      ck.key_hash is distinct from ${hash} as is_previous, ck.previous_key_expires_at as previous_until
    from child_keys ck join management_keys mk on mk.id = ck.management_key_id
    where ck.key_hash = ${hash} or ck.previous_key_hash = ${hash}`;
  return row ?? null;
}
