import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { openHoldsOf } from '../db/queries/reconcile-admission.js';
import { dayKey, monthKey, monthResetsAt, startOfUtcMonth } from '../periods.js';
import { compareAccount } from './compare.js';
import { type AccountIds, readRedisAccount } from './redis-state.js';
import { applyRepairs } from './repair.js';
import { buildScope, subset } from './scope.js';
import { readTruth } from './truth.js';
import type { DriftItem, Finding } from './types.js';

const CHUNK = 200;
const iso = (d: Date) => d.toISOString().slice(0, 10);
const idOf = (f: Finding) => `${f.check}|${f.subject}|${f.delta}`;

/** Read Redis, then Postgres, for every account in scope, and compare. */
async function evaluate(
  ctx: Context,
  scope: Map<string, AccountIds>,
  restore: boolean,
): Promise<Map<string, Finding[]>> {
  const at = ctx.clock.now();
  const period = { day: dayKey(at), month: monthKey(at) };
  const pgPeriod = { day: iso(at), monthStart: iso(startOfUtcMonth(at)), monthEnd: iso(monthResetsAt(at)) };
  const out = new Map<string, Finding[]>();
  const accounts = [...scope.keys()];
  for (let i = 0; i < accounts.length; i += CHUNK) {
    const chunk = subset(scope, accounts.slice(i, i + CHUNK));
    // Holds open now are read from Redis too; any opened after this are not judged in this pass.
    for (const h of await openHoldsOf(ctx.sql, [...chunk.keys()])) chunk.get(h.account_id)!.holds.add(h.id);
    const held = new Map([...chunk].map(([a, ids]) => [a, new Set(ids.holds)]));
    // Redis before Postgres: a request admitted in between shows as a difference (never confirmed,
    // and a guarded repair fails on it) instead of being silently lost from the repaired value.
    const redis = await Promise.all([...chunk].map(([a, ids]) => readRedisAccount(ctx, a, ids, period)));
    const truth = await readTruth(ctx, chunk, pgPeriod);
    [...chunk.keys()].forEach((a, j) => {
      const t = truth.get(a)!;
      out.set(a, compareAccount(ctx, a, redis[j]!, t, held.get(a)!, at, { restore, ...period }));
    });
  }
  return out;
}

export interface AdmissionCheck {
  drift: DriftItem[];
  unconfirmed: number;
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
 * Redis admission state against Postgres. Accounts that differ are read again `settleMs` later and
 * only a difference seen both times is drift (a request in flight changes between the looks). With
 * `fix`, confirmed drift is repaired and missing state restored, each write guarded (repair.ts); an
 * account whose guarded write loses a race is re-read and retried a few times.
 */
export async function checkAdmissionState(
  ctx: Context,
  opts: { fix: boolean; settleMs: number },
): Promise<AdmissionCheck> {
  const scope = await buildScope(ctx, { eager: opts.fix, monthStart: iso(startOfUtcMonth(ctx.clock.now())) });
  const first = await evaluate(ctx, scope, opts.fix);
  const suspects = [...first].filter(([, fs]) => fs.some((f) => f.kind === 'drift')).map(([a]) => a);
  const seen = new Set(
    [...first.values()]
      .flat()
      .filter((f) => f.kind === 'drift')
      .map(idOf),
  );
  let second = new Map<string, Finding[]>();
  if (suspects.length > 0) {
    if (opts.settleMs > 0) await sleep(opts.settleMs);
    second = await evaluate(ctx, subset(scope, suspects), opts.fix);
  }
  const confirmed = [...second.values()].flat().filter((f) => f.kind === 'drift' && seen.has(idOf(f)));

  const result: AdmissionCheck = {
    drift: confirmed.map(strip),
    unconfirmed: seen.size - confirmed.length,
    fixed: 0,
    restored: 0,
    scanned: {
      accounts: scope.size,
      keys: [...scope.values()].reduce((n, ids) => n + ids.keys.size, 0),
      holds: [...scope.values()].reduce((n, ids) => n + ids.holds.size, 0),
    },
  };
  if (!opts.fix) return result;

  const allowed = new Set(confirmed.map(idOf));
  const latest = new Map([...first, ...second]);
  for (const [account, initial] of latest) {
    let findings = initial;
    for (let attempt = 0; ; attempt++) {
      const todo = findings.filter((f) => f.kind === 'missing' || allowed.has(idOf(f)));
      if (todo.length === 0) break;
      const r = await applyRepairs(ctx, todo);
      result.fixed += r.fixed;
      result.restored += r.restored;
      if (!r.conflict) break;
      if (attempt === 4) {
        ctx.logger.warn({ account }, 'reconcile: account kept changing; left for the next run');
        break;
      }
      findings = (await evaluate(ctx, subset(scope, [account]), true)).get(account) ?? [];
    }
  }
  return result;
}
