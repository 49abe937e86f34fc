import type { Db } from '../client.js';

export interface ManagementKeyAuthRow {
  id: string;
  account_id: string;
  status: 'active' | 'disabled' | 'revoked';
}

export async function findManagementKeyByHash(db: Db, hash: Buffer): Promise<ManagementKeyAuthRow | null> {
  const [row] = await db<ManagementKeyAuthRow[]>`
    select id, account_id, status from management_keys where key_hash = ${hash}`;
  return row ?? null;
}

export async function touchManagementKey(db: Db, id: string, at: Date): Promise<void> {
  await db`update management_keys set last_used_at = ${at} where id = ${id}`;
}
