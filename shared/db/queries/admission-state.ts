import type { ChildKeyState, ManagementKeyState } from '../../admission/key-state.js';
import type { Db } from '../client.js';

export interface ChildKeyIdentity {
  id: string;
  account_id: string;
  management_key_id: string;
  /**
   * The fingerprint of the secret its client presented (secretFingerprint), which admission checks
   * is still the key's (key-checks.lua); absent where no client presents one (a batch's lines).
   */
  secret?: string;
}

/**
 * The immutable facts behind a presented child key secret, its current one or one a rotation
 * replaced (admission tells whether that one still works); its mutable state lives in Redis.
 */
export async function findChildKeyByHash(db: Db, hash: Buffer): Promise<ChildKeyIdentity | null> {
  const [row] = await db<ChildKeyIdentity[]>`
    select id, account_id, management_key_id from child_keys
    where key_hash = ${hash} or previous_key_hash = ${hash}`;
  return row ?? null;
}

export interface AdmissionSnapshot {
  /** With when its RPM limit was last cleared (readRpmWindow). */
  key: ChildKeyState & { rpm_limit_cleared_at: Date | null };
  mk: ManagementKeyState;
  /** Spent + reserved in the day / month, and the account's balance less open holds. */
  dayUsed: bigint;
  monthUsed: bigint;
  available: bigint;
  /** The account's credits committed after `creditsSince` (`kind:ref`), counted in `available`. */
  creditIds: string[];
  /** The account's open holds, counted in `available` (and the key's in its counters). */
  openHolds: OpenHoldRecord[];
  /** What this read says of the holds asked about (`heldIds`): those it has no row for are absent. */
  held: HeldInPostgres[];
}

/** A hold as a load's read saw it: open or resolved, its child key and its day (YYYYMMDD). */
export interface HeldInPostgres {
  id: string;
  open: boolean;
  key: string;
  day: string;
}

/** An open hold as its Redis record holds it (admit-9.lua): amount, child key, admitted, deadline. */
export interface OpenHoldRecord {
  id: string;
  amount: string;
  key: string;
  /** Admitted and deadline, epoch ms. */
  at: number;
  dl: number;
}

/**
 * Everything admission keeps in Redis for one child key, read from the book of record in one
 * round trip: the key and its management key, the period counters (settled usage plus open holds
 * of the period) and the owner's available balance, with the recent credits it counts, and the
 * state of the holds asked about (one statement, one snapshot: a credit listed is one the balance
 * includes, a hold listed resolved is one the balance and counters count as charged).
 */
export async function readAdmissionSnapshot(
  db: Db,
  keyId: string,
  p: {
    day: string; // YYYY-MM-DD
    monthStart: string; // YYYY-MM-01
    monthEnd: string; // first day of the next month
    creditsSince: Date;
    /** List the account's open holds too (else `openHolds` is empty). */
    withOpenHolds: boolean;
    /** Holds to say open or resolved, in the same snapshot (the records Redis has: held-records.ts). */
    heldIds: string[];
  },
): Promise<AdmissionSnapshot | null> {
  const { day, monthStart, monthEnd, creditsSince } = p;
  const [row] = await db<
    (ChildKeyState & {
      rpm_limit_cleared_at: Date | null;
      mk_status: ManagementKeyState['status'];
      mk_version: bigint;
      day_used: bigint;
      month_used: bigint;
      available: bigint;
      credit_ids: string[];
      open_holds: OpenHoldRecord[];
      held: HeldInPostgres[];
    })[]
  >`
    select ck.id, ck.account_id, ck.management_key_id, ck.status, ck.limit_daily_ngonka, ck.limit_monthly_ngonka,
           ck.rate_limit_rpm, ck.rpm_limit_cleared_at, ck.expires_at, ck.version,
           ck.key_hash, ck.previous_key_hash, ck.previous_key_expires_at,
           mk.status as mk_status, mk.version as mk_version,
           (coalesce((select sum(cost_ngonka) from key_usage_daily u where u.child_key_id = ck.id and u.day = ${day}::date), 0)
            + coalesce((select sum(amount) from holds h where h.child_key_id = ck.id and h.status = 'open' and h.period_day = ${day}::date), 0))::bigint as day_used,
           (coalesce((select sum(cost_ngonka) from key_usage_daily u where u.child_key_id = ck.id and u.day >= ${monthStart}::date and u.day < ${monthEnd}::date), 0)
            + coalesce((select sum(amount) from holds h where h.child_key_id = ck.id and h.status = 'open' and h.period_day >= ${monthStart}::date and h.period_day < ${monthEnd}::date), 0))::bigint as month_used,
           (l.balance - coalesce((select sum(amount) from holds h where h.account_id = ck.account_id and h.status = 'open'), 0))::bigint as available,
           array(select t.kind || ':' || t.ref from postings p join transfers t on t.id = p.transfer_id
                 where p.ledger_account_id = ck.account_id and p.amount > 0 and left(p.ledger_account_id, 4) <> 'sys_'
                   and p.created_at > ${creditsSince}
                   and t.kind in ('topup', 'referral')) as credit_ids,
           coalesce((select json_agg(json_build_object('id', h.id, 'amount', h.amount::text, 'key', h.child_key_id,
                                                       'at', (extract(epoch from h.created_at) * 1000)::int8,
                                                       'dl', (extract(epoch from h.deadline) * 1000)::int8))
                     from holds h where ${p.withOpenHolds} and h.account_id = ck.account_id and h.status = 'open'),
                    '[]') as open_holds,
           coalesce((select json_agg(json_build_object('id', h.id, 'open', h.status = 'open', 'key', h.child_key_id,
                                                       'day', to_char(h.period_day, 'YYYYMMDD')))
                     from holds h where h.id = any(${p.heldIds}::text[])),
                    '[]') as held
    from child_keys ck
    join management_keys mk on mk.id = ck.management_key_id
    join ledger_accounts l on l.id = ck.account_id
    where ck.id = ${keyId}`;
  if (!row) return null;
  const { mk_status, mk_version, day_used, month_used, available, credit_ids, open_holds, held, ...key } =
    row;
  return {
    key,
    mk: { id: key.management_key_id, account_id: key.account_id, status: mk_status, version: mk_version },
    dayUsed: day_used,
    monthUsed: month_used,
    available,
    creditIds: credit_ids,
    openHolds: open_holds,
    held,
  };
}
