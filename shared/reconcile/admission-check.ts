import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { openHoldsOf } from '../db/queries/reconcile-admission.js';
import { dayKey, monthKey } from '../periods.js';
import type { Queues } from '../queues.js';
import { openWatchConnection, type Redis } from '../redis/client.js';
import { compareAccount } from './compare.js';
import { finishSettlements } from './finish-settlements.js';
import { type AccountIds, readRedisAccount } from './redis-state.js';
import { releaseOrphanRecords } from './release-orphans.js';
import { buildScope, subset } from './scope.js';
import { readTruth, truthPeriod } from './truth.js';
import type { DriftItem, Finding, Repair } from './types.js';
import { releaseSettledMeanwhile, type WatchedResult, watchedEvaluate } from './watched.js';

const CHUNK = 200;
/** Accounts looked at consistently at once, each on its own connection. */
const CONNECTIONS = 4;
/** The first wait before looking again after a lost connection; doubled at each attempt. */
const RECONNECT_BACKOFF_MS = 100;

/** How many accounts the admission check has looked at so far, of how many (a long run's progress). */
export type AdmissionProgress = (checked: number, accounts: number) => void;

/** The quick first look: every account in scope, Redis then Postgres, no guarantees under traffic. */
async function firstLook(
  ctx: Context,
  scope: Map<string, AccountIds>,
  restore: boolean,
  onProgress: AdmissionProgress = () => {},
) {
  const at = ctx.clock.now();
  const period = { day: dayKey(at), month: monthKey(at) };
  const pgPeriod = truthPeriod(at);
  const out = new Map<string, Finding[]>();
  const accounts = [...scope.keys()];
  for (let i = 0; i < accounts.length; i += CHUNK) {
    const chunk = subset(scope, accounts.slice(i, i + CHUNK));
    for (const h of await openHoldsOf(ctx.sql, [...chunk.keys()])) chunk.get(h.account_id)!.holds.add(h.id);
    const held = new Map([...chunk].map(([a, ids]) => [a, new Set(ids.holds)]));
    const redis = await Promise.all(
      [...chunk].map(([a, ids]) => readRedisAccount(ctx.redis, ctx.keys, a, ids, period)),
    );
    const truth = await readTruth(ctx, chunk, pgPeriod);
    [...chunk.keys()].forEach((a, j) => {
      out.set(a, compareAccount(ctx, a, redis[j]!, truth.get(a)!, held.get(a)!, at, { restore, ...period }));
    });
    onProgress(out.size, accounts.length);
  }
  return out;
}

/**
 * For an account too busy for a consistent look: the repairs that are right whatever else moves.
 * The records of open holds that lost theirs are put back where Redis has the account's balance
 * (loaded from a read that counted the hold open, so its record only lets its settlement give back
 * the rest; never overwrites; with no balance, the load to come reads the hold's outcome itself,
 * and a record put back before it would give the rest back a second time); a
 * key state Redis holds an older version of is brought up to date through setKeyState, which
 * writes only a newer version (a deleted key on a busy account must stop too). The look may be old: a record goes back only if
 * neither the account's load epoch nor its key's counters' generation moved since the look read
 * Redis (put-hold-record-5.lua), so no value was rebuilt from a read that saw the hold settle. A
 * hold that settled since the look found no record to release through: it is released now, as on
 * the watched path.
 */
export async function restoreHoldRecords(ctx: Context, findings: Finding[]): Promise<number> {
  const lone = findings.filter((f) => f.repairs.length === 1);
  let n = 0;
  for (const f of lone) {
    const r = f.repairs[0]!;
    if (r.kind === 'putHold') n += await putHoldBack(ctx, r);
    if (r.kind === 'newerState')
      n += Number(await ctx.scripts.run('setKeyState', [r.key], [r.version, ...r.fields]));
  }
  await releaseSettledMeanwhile(ctx, lone);
  return n;
}

/** One record put back off the watched path: 1 when written (put-hold-record-5.lua says when not). */
async function putHoldBack(ctx: Context, r: Extract<Repair, { kind: 'putHold' }>): Promise<number> {
  const done = await ctx.scripts.run(
    'putHoldRecord',
    [
      r.key,
      ctx.keys.balance(r.accountId),
      r.index,
      ctx.keys.loadEpoch(r.accountId),
      ctx.keys.childKey(r.accountId, r.keyId),
    ],
    [r.amount, r.keyId, r.ttlS, r.admittedMs, r.deadlineMs, r.holdId, r.seen.epoch, r.seen.generation],
  );
  return Number(done) === 1 ? 1 : 0;
}

export interface AdmissionCheck {
  drift: DriftItem[];
  unconfirmed: number;
  /** Accounts with differences on the first look that every consistent look missed (too busy). */
  unchecked: string[];
  fixed: number;
  restored: number;
  scanned: { accounts: number; keys: number; holds: number };
}

const strip = ({ check, subject, message, expected, actual }: Finding): DriftItem => ({
  check,
  subject,
  message,
  ...(expected === undefined ? {} : { expected }),
  ...(actual === undefined ? {} : { actual }),
});

/**
 * Redis admission state against Postgres. A quick look over every account finds suspects; each is
 * then compared again at a consistent point (watched.ts), and only what that second look shows is
 * drift. With `fix`, the second look also repairs, atomically with its check, and missing state is
 * restored. An account whose keys keep changing under the look is retried a few times and then left
 * (its first-look differences count as unconfirmed).
 */
export async function checkAdmissionState(
  ctx: Context,
  opts: {
    fix: boolean;
    inflightMs: number;
    eager?: boolean;
    only?: Repair['kind'][];
    /** Accounts compared but never repaired: their Postgres figures are wrong themselves. */
    withhold?: ReadonlySet<string>;
    onProgress?: AdmissionProgress;
    /** Release the records of holds Postgres has resolved before looking (finish-settlements.ts). */
    finishSettlements?: boolean;
    /**
     * Give back, before looking, the admissions of hold records Postgres never got a row for and
     * nothing can still settle, judged at `asOf` (release-orphans.ts).
     */
    releaseOrphans?: { queues: Queues; asOf: Date };
  },
): Promise<AdmissionCheck> {
  const scope = await buildScope(ctx, {
    eager: opts.eager ?? opts.fix,
    monthStart: truthPeriod(ctx.clock.now()).monthStart,
  });
  if (opts.finishSettlements) await finishSettlements(ctx, scope);
  if (opts.releaseOrphans)
    await releaseOrphanRecords(ctx, opts.releaseOrphans.queues, scope, opts.releaseOrphans.asOf);
  const first = await firstLook(ctx, scope, opts.fix, opts.onProgress);
  const targets = [...first]
    .filter(([, fs]) => fs.some((f) => f.kind === 'drift' || (opts.fix && f.repairs.length > 0)))
    .map(([a]) => a);
  const seen = [...first.values()].flat().filter((f) => f.kind === 'drift').length;

  const result: AdmissionCheck = {
    drift: [],
    unconfirmed: 0,
    unchecked: [],
    fixed: 0,
    restored: 0,
    scanned: {
      accounts: scope.size,
      keys: [...scope.values()].reduce((n, ids) => n + ids.keys.size, 0),
      holds: [...scope.values()].reduce((n, ids) => n + ids.holds.size, 0),
    },
  };
  const open = () =>
    openWatchConnection(ctx.redis, (err) =>
      ctx.logger.warn({ err: err.message }, 'reconcile: redis connection error'),
    );
  // Set once a checker fails past its retries (Redis out of reach): the others stop at their next
  // step, and the first failure is thrown once all have.
  let stop = false;
  let next = 0;
  const checker = async (): Promise<{ err: unknown } | null> => {
    let conn: Redis | null = null;
    const drop = () => {
      conn?.disconnect();
      conn = null;
    };
    try {
      for (let i = next++; i < targets.length && !stop; i = next++) {
        const account = targets[i]!;
        let last: Finding[] = [];
        let settled = false;
        for (let attempt = 0; attempt < (opts.fix ? 6 : 3) && !settled && !stop; attempt++) {
          let r: WatchedResult;
          try {
            conn ??= await open();
            const repair = opts.fix && !opts.withhold?.has(account);
            r = await watchedEvaluate(ctx, conn, account, scope.get(account)!, {
              restore: repair,
              apply: repair,
              inflightMs: opts.inflightMs,
              ...(opts.only ? { only: opts.only } : {}),
            });
          } catch (err) {
            // The connection dropped mid-step (its MULTI applied under its WATCH, or not at all,
            // and it is dead), or none could be opened (Redis restarting): look again on a new
            // one a moment later, as for keys that changed.
            ctx.logger.warn({ err, account }, 'reconcile: connection lost while checking; checking again');
            drop();
            await sleep(RECONNECT_BACKOFF_MS * 2 ** attempt);
            continue;
          }
          last = r.findings;
          if (!r.consistent) continue;
          settled = true;
          result.drift.push(...r.findings.filter((f) => f.kind === 'drift').map(strip));
          result.fixed += r.fixed;
          result.restored += r.restored;
        }
        if (stop) break;
        if (!settled && opts.fix && !opts.withhold?.has(account))
          result.fixed += await restoreHoldRecords(ctx, last);
        if (!settled) {
          result.unchecked.push(account);
          ctx.logger.warn({ account }, 'reconcile: account could not be checked consistently');
        }
      }
      return null;
    } catch (err) {
      stop = true;
      return { err };
    } finally {
      drop();
    }
  };
  const outcomes = await Promise.all(Array.from({ length: Math.min(CONNECTIONS, targets.length) }, checker));
  const failure = outcomes.find((o) => o !== null);
  if (failure) throw failure.err;
  result.unconfirmed = Math.max(seen - result.drift.length, 0);
  return result;
}
