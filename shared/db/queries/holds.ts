import type { Db } from '../client.js';
import { statusIn } from './status-by-id.js';

export interface NewHold {
  id: string;
  requestId: string;
  accountId: string;
  childKeyId: string;
  amount: bigint;
  periodDay: string; // YYYY-MM-DD
  model: string;
  pricePerToken: bigint;
  markupBps: number;
  createdAt: Date;
  deadline: Date;
}

export async function insertHold(db: Db, h: NewHold): Promise<void> {
  await db`insert into holds (${db.unsafe(HOLD_COLUMNS)}) select * from ${holdRows(db, [h])}`;
}

/**
 * Holds of synchronous chat requests, many in one statement, committed without waiting for the WAL
 * flush (`synchronous_commit` off for this statement's own transaction only): the write runs beside
 * the node call, and a disk flush (0.2 ms on an idle SSD, many ms on a busy or network disk) would
 * only lengthen it. What a Postgres crash can lose is the last fraction of a second of such holds,
 * and only those not yet settled (settlement's durable commit flushes the WAL before it): those
 * requests go uncharged, and the Redis reservation they leave errs on the safe side until
 * reconciliation rebuilds it. Never for a hold that carries an accepted async job.
 */
export async function insertSyncHolds(db: Db, holds: readonly NewHold[]): Promise<void> {
  if (holds.length === 0) return;
  await db`
    with relaxed as (select set_config('synchronous_commit', 'off', true))
    insert into holds (${db.unsafe(HOLD_COLUMNS)})
    select h.* from relaxed, ${holdRows(db, holds)}`;
}

/**
 * Write holds that may not exist yet (a served request whose admission write failed), in the
 * caller's settlement transaction; one that exists is left as it is.
 */
export async function insertMissingHolds(db: Db, holds: readonly NewHold[]): Promise<void> {
  if (holds.length === 0) return;
  await db`
    insert into holds (${db.unsafe(HOLD_COLUMNS)}) select * from ${holdRows(db, holds)}
    on conflict do nothing`;
}

/** The columns holdRows yields, in order. */
export const HOLD_COLUMNS = `id, request_id, account_id, child_key_id, amount, period_day, model,
  price_ngonka_per_token, markup_bps, created_at, deadline`;

/**
 * New holds as a set of rows named `h` with the HOLD_COLUMNS in order (`… from ${holdRows(db, holds)}`,
 * `h.id` and so on).
 */
export function holdRows(db: Db, holds: readonly NewHold[]) {
  const col = <T>(f: (h: NewHold) => T) => holds.map(f);
  return db`unnest(
      ${col((h) => h.id)}::text[], ${col((h) => h.requestId)}::text[], ${col((h) => h.accountId)}::text[],
      ${col((h) => h.childKeyId)}::text[], ${col((h) => h.amount.toString())}::bigint[],
      ${col((h) => h.periodDay)}::date[], ${col((h) => h.model)}::text[],
      ${col((h) => h.pricePerToken.toString())}::bigint[], ${col((h) => h.markupBps)}::int[],
      ${col((h) => h.createdAt.toISOString())}::timestamptz[], ${col((h) => h.deadline.toISOString())}::timestamptz[]
    ) as h (${db.unsafe(HOLD_COLUMNS)})`;
}

export interface HoldRow {
  id: string;
  request_id: string;
  account_id: string;
  child_key_id: string;
  amount: bigint;
  period_day: string;
  model: string;
  price_ngonka_per_token: bigint;
  markup_bps: number;
  status: 'open' | 'posted' | 'voided';
  posted_amount: bigint | null;
  created_at: Date;
  deadline: Date;
}

export interface HoldResolution {
  id: string;
  status: 'posted' | 'voided';
  postedAmount: bigint;
  /** The node's token counts (posted only). */
  promptTokens: number | null;
  completionTokens: number | null;
  /** The ref of the charge transfer that billed it (posted only; null if its batch booked nothing for its account). */
  chargeRef: string | null;
}

/**
 * Move holds to posted/voided in one statement. Only holds still open change, so a hold resolves
 * exactly once however often settlement runs (settlement locks them first: lockHoldsToSettle).
 */
export async function resolveHolds(db: Db, items: HoldResolution[], at: Date): Promise<void> {
  if (items.length === 0) return;
  const col = <T>(f: (i: HoldResolution) => T) => items.map(f);
  await db`
    update holds h set status = v.status, posted_amount = v.posted, resolved_at = ${at},
      prompt_tokens = v.prompt_tokens, completion_tokens = v.completion_tokens, charge_ref = v.charge_ref
    from unnest(${col((i) => i.id)}::text[], ${col((i) => i.status)}::text[],
                ${col((i) => i.postedAmount.toString())}::bigint[], ${col((i) => i.promptTokens)}::int[],
                ${col((i) => i.completionTokens)}::int[], ${col((i) => i.chargeRef)}::text[])
         as v(id, status, posted, prompt_tokens, completion_tokens, charge_ref)
    where h.id = v.id and ${statusIn(db, 'h.status', ['open'])}`;
}

/** An open hold as settlement reads it, with the referrers its charge pays (L1, L2) if any. */
export interface HoldToSettle extends HoldRow {
  referrer_l1: string | null;
  referrer_l2: string | null;
}

/**
 * Lock the holds still open among `ids` (in id order, so concurrent settlements never deadlock)
 * so the amounts a settlement computes from cannot change under it, and read who referred their
 * accounts in the same round trip.
 */
export async function lockHoldsToSettle(db: Db, ids: string[]): Promise<HoldToSettle[]> {
  if (ids.length === 0) return [];
  return db<HoldToSettle[]>`
    select h.id, h.request_id, h.account_id, h.child_key_id, h.amount, h.period_day::text as period_day,
           h.model, h.price_ngonka_per_token, h.markup_bps, h.status, h.posted_amount, h.created_at,
           h.deadline, a.referred_by as referrer_l1, r.referred_by as referrer_l2
    from holds h join accounts a on a.id = h.account_id left join accounts r on r.id = a.referred_by
    where h.id = any(${ids}) and ${statusIn(db, 'h.status', ['open'])}
    order by h.id
    for update of h`;
}

/** Those of `ids` that were voided (nothing charged). */
export async function voidedHoldIds(db: Db, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db<{ id: string }[]>`select id from holds where id = any(${ids}) and status = 'voided'`;
  return rows.map((r) => r.id);
}

export async function findHold(db: Db, id: string): Promise<HoldRow | null> {
  const [row] = await db<HoldRow[]>`
    select id, request_id, account_id, child_key_id, amount, period_day::text as period_day, model,
           price_ngonka_per_token, markup_bps, status, posted_amount, created_at, deadline
    from holds where id = ${id}`;
  return row ?? null;
}

export interface OpenHoldsSummary {
  count: number;
  amount: bigint;
  /** Open holds past their deadline: the stale-hold sweeper resolves them within its next run. */
  overdue: number;
  oldestCreatedAt: Date | null;
}

/** What is reserved right now, for /metrics (the partial index on open holds keeps it small). */
export async function openHoldsSummary(db: Db, now: Date): Promise<OpenHoldsSummary> {
  const [row] = await db<OpenHoldsSummary[]>`
    select count(*)::int as count, coalesce(sum(amount), 0)::bigint as amount,
           (count(*) filter (where deadline <= ${now}))::int as overdue, min(created_at) as "oldestCreatedAt"
    from holds where status = 'open'`;
  return row!;
}
