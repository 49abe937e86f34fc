import type { Context } from '../context.js';
import { CHECKS, type CheckName, type ReconcileReport } from './types.js';

/** The last scheduled check's outcome, kept in Redis so /metrics of any process can export it. */
export interface ReconcileSummary {
  at: string;
  checks: Record<CheckName, number>;
  unconfirmed: number;
}

const keyOf = (ctx: Context) => `${ctx.config.REDIS_PREFIX}:ops:reconcile`;

export async function saveReconcileSummary(ctx: Context, r: ReconcileReport): Promise<void> {
  const summary: ReconcileSummary = { at: r.at, checks: r.checks, unconfirmed: r.unconfirmed };
  await ctx.redis.set(keyOf(ctx), JSON.stringify(summary));
}

export async function loadReconcileSummary(ctx: Context): Promise<ReconcileSummary | null> {
  const raw = await ctx.redis.get(keyOf(ctx));
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as ReconcileSummary;
    return { ...s, checks: Object.fromEntries(CHECKS.map((c) => [c, Number(s.checks?.[c] ?? 0)])) as never };
  } catch {
    return null;
  }
}
