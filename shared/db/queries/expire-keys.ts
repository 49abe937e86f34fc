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

/** A disabled key past its expiry whose key.expired event is not recorded yet. */
export type UnannouncedExpiryRow = Pick<
  ExpiredKeyRow,
  'id' | 'account_id' | 'management_key_id' | 'name' | 'metadata' | 'expires_at'
>;

/**
 * Disabled keys whose expiry passed within (`since`, `now`] and was not announced: their status
 * stays `disabled` (an owner who gives one a new expires_at has not asked for it back), but their
 * owner hears of the expiry as of an active key's. The event's dedupe key
 * (`key.expired:<key>:<expiry ms>`) says whether it was; the window keeps each run to the keys that
 * expired since the last (review32: every one ever expired was read again every 15 s).
 */
export async function unannouncedDisabledExpiries(
  db: Db,
  window: { since: Date; now: Date },
  limit: number,
): Promise<UnannouncedExpiryRow[]> {
  return db<UnannouncedExpiryRow[]>`
    select c.id, c.account_id, c.management_key_id, c.name, c.metadata, c.expires_at
    from child_keys c
    where c.status = 'disabled' and c.expires_at is not null
      and c.expires_at > ${window.since} and c.expires_at <= ${window.now}
      and not exists (
        select 1 from scheduler_events e
        where e.dedupe_key = 'key.expired:' || c.id || ':' || floor(extract(epoch from c.expires_at) * 1000)::bigint)
    order by c.expires_at, c.id
    limit ${limit}`;
}
