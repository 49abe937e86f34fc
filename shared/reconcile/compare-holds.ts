import { holdRecordTtlS } from '../admission/hold-record-ttl.js';
import type { Context } from '../context.js';
import type { RedisAccount } from './redis-state.js';
import type { AccountTruth } from './truth.js';
import type { Finding, Repair } from './types.js';

/**
 * A record of a hold Postgres has no row for: a request in flight whose hold write is slow, or a
 * served request whose write failed and whose settlement will write it (settleServed). Its
 * reservation is real until then: the record is not repaired while it lives, and the account's
 * balance and its key's counters are judged with the reservation counted, only their loose side
 * repaired (heldOff, compareAccount). One whose api died before the write is given back,
 * admission and all, once nothing can settle it any more (release-orphans.ts: the scheduled check
 * and --fix, before they look).
 */
function unconfirmedHold(key: string, amount: string | undefined): Finding {
  return {
    kind: 'drift',
    check: 'redis_hold_records',
    subject: key,
    message:
      'record of a hold Postgres has no row for (in flight, or its write failed): given back once its deadline is HOLD_GRACE_SECONDS past',
    actual: amount,
    repairs: [],
  };
}

const UNCONFIRMED = 'not repaired while a hold Postgres has no row for is live';

/**
 * A drift finding left for later, reported but not repaired: a tight balance or counter while
 * holds Postgres has no row for live on it (what they reserve may not all be known yet).
 */
export function heldOff(f: Finding): Finding {
  return f.kind === 'drift' && f.repairs.length > 0
    ? { ...f, message: `${f.message}; ${UNCONFIRMED}`, repairs: [] }
    : f;
}

/** One hold record Postgres has no row for: its key, what it reserves, and when it was admitted. */
export interface UnconfirmedHold {
  keyId: string;
  /** null when the record does not say (a damaged record). */
  amount: bigint | null;
  /** The admission's time (the record's `at`); null for records written before it was kept. */
  admittedAt: Date | null;
}

/**
 * The hold records Postgres has no row for (see unconfirmedHold): each of them, and what they
 * reserve together.
 */
export function unconfirmedHolds(
  redis: RedisAccount,
  truth: AccountTruth,
  heldIds: Set<string>,
): { amount: bigint; holds: UnconfirmedHold[] } {
  const holds: UnconfirmedHold[] = [];
  let amount = 0n;
  for (const id of heldIds) {
    const rec = redis.holds.get(id);
    if (!rec || truth.openHolds.has(id) || truth.holdStatus.has(id)) continue;
    const hold = {
      keyId: rec.k ?? '',
      amount: /^\d+$/.test(rec.amt ?? '') ? BigInt(rec.amt!) : null,
      admittedAt: /^\d+$/.test(rec.at ?? '') ? new Date(Number(rec.at)) : null,
    };
    holds.push(hold);
    if (hold.amount !== null) amount += hold.amount;
  }
  return { amount, holds };
}

/** Whether a record says what its open hold does (else it is put back whole, index and all). */
const sameRecord = (rec: Record<string, string>, hold: { amount: bigint; child_key_id: string }) =>
  rec.amt === hold.amount.toString() && rec.k === hold.child_key_id;

/** A record's deadline as it says (`dl`); null for one written before records kept it. */
const deadlineOf = (rec: Record<string, string>): Date | null =>
  /^\d+$/.test(rec.dl ?? '') ? new Date(Number(rec.dl)) : null;

/**
 * A record its account's index does not name (the index lost on its own, or the record written by
 * an api older than the index): a load rebuilding a value Redis lost does not see it, so its release
 * takes the values away to be loaded again (release-holds-n.lua). Named again only by `--fix`,
 * which sets the values beside it in the same step: a value rebuilt before, unseen, would otherwise
 * be given back to twice.
 */
function unindexed(key: string, index: string, holdId: string, deadline: Date | null, at: Date): Finding {
  return {
    kind: 'drift',
    check: 'redis_hold_records',
    subject: key,
    message: "hold record missing from its account's index of records",
    repairs: [{ kind: 'indexHold', index, holdId, ttlS: holdRecordTtlS(deadline ?? at, at) }],
  };
}

/**
 * Redis hold records against open holds: every open hold needs its record (settlement releases
 * through it), and a record of a hold no longer open is a release that never ran. Only the records
 * that were read (`heldIds`) are judged; a hold opened since is not.
 */
export function compareHoldRecords(
  ctx: Context,
  accountId: string,
  redis: RedisAccount,
  truth: AccountTruth,
  heldIds: Set<string>,
  at: Date,
): Finding[] {
  const out: Finding[] = [];
  const { keys } = ctx;
  for (const id of heldIds) {
    const hold = truth.openHolds.get(id);
    const rec = redis.holds.get(id);
    const key = keys.hold(accountId, id);
    const index = keys.heldRecords(accountId);
    const del: Repair = { kind: 'delHold', key, index, holdId: id };
    // Any record, its hold's release still to come included: that is the one a load must mark. (An
    // open hold's record that differs is put back whole, index and all.)
    if (rec && !redis.indexed.has(id) && (!hold || sameRecord(rec, hold)))
      out.push(unindexed(key, index, id, hold ? hold.deadline : deadlineOf(rec), at));
    if (!hold) {
      if (rec && !truth.holdStatus.has(id)) {
        out.push(unconfirmedHold(key, rec.amt));
      } else if (rec) {
        const status = truth.holdStatus.get(id);
        out.push({
          kind: 'drift',
          check: 'redis_hold_records',
          subject: key,
          message: `record of a hold that is ${status} in Postgres: its release never ran`,
          actual: rec.amt,
          repairs: [del],
        });
      }
      continue;
    }
    const ttlS = holdRecordTtlS(hold.deadline, at);
    const put: Repair = {
      kind: 'putHold',
      key,
      index,
      accountId,
      holdId: id,
      amount: hold.amount.toString(),
      keyId: hold.child_key_id,
      admittedMs: hold.created_at.getTime(),
      deadlineMs: hold.deadline.getTime(),
      ttlS,
      seen: { epoch: redis.epoch ?? '', generation: redis.keys.get(hold.child_key_id)?.hash.cg ?? '' },
    };
    if (!rec) {
      out.push({
        kind: 'drift',
        check: 'redis_hold_records',
        subject: key,
        message: 'open hold has no Redis record: its settlement would not give the reservation back',
        expected: hold.amount.toString(),
        actual: 'absent',
        repairs: [put],
      });
    } else if (!sameRecord(rec, hold)) {
      out.push({
        kind: 'drift',
        check: 'redis_hold_records',
        subject: key,
        message: 'hold record differs from the open hold',
        expected: `${hold.amount}/${hold.child_key_id}`,
        actual: `${rec.amt}/${rec.k}`,
        repairs: [del, put],
      });
    }
  }

  return out;
}
