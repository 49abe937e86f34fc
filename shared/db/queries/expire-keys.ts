import type { ChildKeyState } from '../../admission/key-state.js';
import type { Db } from '../client.js';

export interface ExpiredKeyRow extends ChildKeyState {
  name: string;
  metadata: Record<string, unknown>;
  expires_at: Date;
}

/**
 * Flip active child keys whose expiry has passed to `expired`, moving their version so the Redis
 * copy follows. Oldest expiry first, a batch at a time; rows a PATCH holds locked are skipped and
 * caught by the next run.
 */
export async function expireDueChildKeys(db: Db, now: Date, limit: number): Promise<ExpiredKeyRow[]> {
  return db<ExpiredKeyRow[]>`
    update child_keys c set status = 'expired', version = c.version + 1
    from (select id from child_keys
          where status = 'active' and expires_at is not null and expires_at <= ${now}
          order by expires_at, id
          limit ${limit}
          for update skip locked) due
    where c.id = due.id
    returning c.id, c.account_id, c.management_key_id, c.name, c.metadata, c.status, c.limit_daily_ngonka,
              c.limit_monthly_ngonka, c.rate_limit_rpm, c.expires_at, c.version,
              c.key_hash, c.previous_key_hash, c.previous_key_expires_at`;
}
