import { secretFingerprint } from '../api-keys.js';
import type { Context } from '../context.js';

/** What admission needs to know about a child key, as Postgres holds it. */
export interface ChildKeyState {
  id: string;
  account_id: string;
  management_key_id: string;
  status: 'active' | 'disabled' | 'expired' | 'deleted';
  limit_daily_ngonka: bigint | null;
  limit_monthly_ngonka: bigint | null;
  rate_limit_rpm: number | null;
  expires_at: Date | null;
  version: bigint;
  /** The hash of its secret, and of the one its last rotation replaced while that one still works. */
  key_hash: Buffer;
  previous_key_hash: Buffer | null;
  previous_key_expires_at: Date | null;
}

export interface ManagementKeyState {
  id: string;
  account_id: string;
  status: 'active' | 'disabled' | 'revoked';
  version: bigint;
}

/**
 * Copy a child key's state into Redis after it changed in Postgres (call after the commit), so the
 * very next admission sees it. Only a newer version overwrites, so a concurrent loader holding an
 * older read can never undo a change. Unlimited values are stored as -1 / 0.
 */
export async function publishChildKeyState(ctx: Context, k: ChildKeyState): Promise<void> {
  await ctx.scripts.run(
    'setKeyState',
    [ctx.keys.childKey(k.account_id, k.id)],
    [k.version.toString(), ...Object.entries(childKeyStateFields(k)).flat()],
  );
}

/**
 * A child key's state as Redis keeps it (admit-9.lua, key-access-3.lua), field by field: status,
 * expiry (ms, 0: none), RPM limit (0: none), limits (-1: none), management key, and its secrets'
 * fingerprints: `h` the current one's, `ph` the one its last rotation replaced ('' if none) and
 * `phx` until when that one still works (ms, 0: not at all).
 */
export function childKeyStateFields(k: ChildKeyState): Record<string, string> {
  return {
    st: k.status,
    exp: String(k.expires_at ? k.expires_at.getTime() : 0),
    rpm: String(k.rate_limit_rpm ?? 0),
    ld: k.limit_daily_ngonka === null ? '-1' : k.limit_daily_ngonka.toString(),
    lm: k.limit_monthly_ngonka === null ? '-1' : k.limit_monthly_ngonka.toString(),
    mk: k.management_key_id,
    h: secretFingerprint(k.key_hash),
    ph: k.previous_key_hash ? secretFingerprint(k.previous_key_hash) : '',
    phx: String(k.previous_key_expires_at?.getTime() ?? 0),
  };
}

/** The management key's status gates all its children (revoked stops them). */
export async function publishManagementKeyState(ctx: Context, mk: ManagementKeyState): Promise<void> {
  await ctx.scripts.run(
    'setKeyState',
    [ctx.keys.managementKey(mk.account_id, mk.id)],
    [mk.version.toString(), 'st', mk.status],
  );
}
