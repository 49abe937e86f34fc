import type { ChildKeyRow, ChildKeySettings, ChildKeyStatus, JsonObject } from '../db/queries/child-keys.js';
import type { KeyPeriodUsageRow } from '../db/queries/key-usage.js';
import { ApiError } from '../errors.js';
import { dayResetsAt, monthResetsAt } from '../periods.js';

/**
 * The status clients see. Expiry is enforced at request time, so a key past `expires_at` is expired
 * now, whether or not the scheduler has flipped its row yet. Deleted is final and wins.
 */
export function effectiveChildKeyStatus(
  k: Pick<ChildKeyRow, 'status' | 'expires_at'>,
  now: Date,
): ChildKeyStatus {
  if (k.status === 'deleted') return 'deleted';
  if (k.expires_at !== null && k.expires_at.getTime() <= now.getTime()) return 'expired';
  return k.status;
}

export interface ChildKeyUsage {
  daily_spent: bigint;
  monthly_spent: bigint;
  daily_reserved: bigint;
  monthly_reserved: bigint;
  /** Null where no limit is set. */
  daily_remaining: bigint | null;
  monthly_remaining: bigint | null;
  requests_today: bigint;
  requests_this_month: bigint;
  day_resets_at: Date;
  month_resets_at: Date;
}

const ZERO_USAGE = {
  daily_spent: 0n,
  monthly_spent: 0n,
  daily_reserved: 0n,
  monthly_reserved: 0n,
  requests_today: 0n,
  requests_this_month: 0n,
};

/** In-flight reservations count against a limit exactly like settled spend (API.md "Admission"). */
function remaining(limit: bigint | null, spent: bigint, reserved: bigint): bigint | null {
  if (limit === null) return null;
  const left = limit - spent - reserved;
  return left > 0n ? left : 0n;
}

export function childKeyUsage(
  k: Pick<ChildKeyRow, 'limit_daily_ngonka' | 'limit_monthly_ngonka'>,
  row: KeyPeriodUsageRow | undefined,
  now: Date,
): ChildKeyUsage {
  const u = row ?? ZERO_USAGE;
  return {
    daily_spent: u.daily_spent,
    monthly_spent: u.monthly_spent,
    daily_reserved: u.daily_reserved,
    monthly_reserved: u.monthly_reserved,
    daily_remaining: remaining(k.limit_daily_ngonka, u.daily_spent, u.daily_reserved),
    monthly_remaining: remaining(k.limit_monthly_ngonka, u.monthly_spent, u.monthly_reserved),
    requests_today: u.requests_today,
    requests_this_month: u.requests_this_month,
    day_resets_at: dayResetsAt(now),
    month_resets_at: monthResetsAt(now),
  };
}

/** A PATCH body after validation: absent fields stay, `null` clears. */
export interface ChildKeyPatch {
  name?: string;
  status?: 'active' | 'disabled';
  limit_daily_ngonka?: bigint | null;
  limit_monthly_ngonka?: bigint | null;
  rate_limit_rpm?: number | null;
  expires_at?: Date | null;
  metadata?: JsonObject | null;
}

/**
 * The settings a PATCH leads to, or a 409 when the change makes no sense for the key's state.
 * `expires_at` in the past is rejected earlier, by validation.
 */
export function applyChildKeyPatch(cur: ChildKeyRow, p: ChildKeyPatch, now: Date): ChildKeySettings {
  if (cur.status === 'deleted') throw new ApiError('conflict', 'Child key is deleted and cannot be changed');
  const expiresAt = p.expires_at === undefined ? cur.expires_at : p.expires_at;
  let status: ChildKeyStatus = p.status ?? cur.status;
  // The scheduler only flips active keys to expired, so moving the expiry (or clearing it) on such a
  // key restores the active state it had; otherwise extending a TTL would also need a status change.
  if (p.status === undefined && p.expires_at !== undefined && cur.status === 'expired') status = 'active';
  if (p.status === 'active' && effectiveChildKeyStatus({ status, expires_at: expiresAt }, now) === 'expired')
    throw new ApiError(
      'conflict',
      'Child key has expired: set a future expires_at (or null) to reactivate it',
      {
        param: 'status',
      },
    );
  return {
    name: p.name ?? cur.name,
    status,
    limit_daily_ngonka: p.limit_daily_ngonka === undefined ? cur.limit_daily_ngonka : p.limit_daily_ngonka,
    limit_monthly_ngonka:
      p.limit_monthly_ngonka === undefined ? cur.limit_monthly_ngonka : p.limit_monthly_ngonka,
    rate_limit_rpm: p.rate_limit_rpm === undefined ? cur.rate_limit_rpm : p.rate_limit_rpm,
    expires_at: expiresAt,
    metadata: p.metadata === undefined ? cur.metadata : (p.metadata ?? {}),
  };
}

/** Soft delete keeps every setting for audit; only the status changes. */
export function deletedSettings(cur: ChildKeyRow): ChildKeySettings {
  return { ...cur, status: 'deleted' };
}
