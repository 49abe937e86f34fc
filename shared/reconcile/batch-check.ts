import { setTimeout as sleep } from 'node:timers/promises';
import { triggerDispatch } from '../batches/trigger.js';
import type { Context } from '../context.js';
import { idleOpenBatchIds } from '../db/queries/reconcile-jobs.js';
import type { Queues } from '../queues.js';
import { pendingMessages } from './queued-jobs.js';
import type { DriftItem } from './types.js';

const LIMIT = 10_000;

/** Batches with a dispatcher run waiting or going (not their end-of-window run, a day away). */
async function batchesWithDispatch(queues: Queues): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const job of pendingMessages(queues, 'batches')) {
    const batchId = (job.data as { batchId?: unknown }).batchId;
    if (typeof batchId === 'string' && job.id !== `${batchId}-expiry`) ids.add(batchId);
  }
  return ids;
}

async function stalled(ctx: Context, queues: Queues, ids?: string[]): Promise<string[]> {
  const idle = await idleOpenBatchIds(ctx.sql, LIMIT, ids);
  if (idle.length === 0) return [];
  const dispatching = await batchesWithDispatch(queues);
  return idle.filter((id) => !dispatching.has(id));
}

/**
 * Every open batch moves on from a line ending (which triggers its dispatcher) or from a
 * dispatcher run already waiting. One with neither, after Redis lost its trigger, would sit
 * untouched until its window ended. Seen twice `inflightMs` apart (a line ends a moment before its
 * trigger is queued); with `fix` its dispatcher is triggered, which is harmless for a batch that
 * moved on meanwhile (the run finds nothing to do).
 */
export async function checkBatchDispatch(
  ctx: Context,
  queues: Queues,
  opts: { fix: boolean; inflightMs: number },
): Promise<{ drift: DriftItem[]; unconfirmed: number; fixed: number }> {
  let missing = await stalled(ctx, queues);
  const firstLook = missing.length;
  if (missing.length > 0) {
    if (opts.inflightMs > 0) await sleep(opts.inflightMs);
    missing = await stalled(ctx, queues, missing);
  }
  if (opts.fix) for (const batchId of missing) await triggerDispatch(queues, batchId);
  return {
    drift: missing.map((id) => ({
      check: 'batch_dispatch' as const,
      subject: `batch ${id}`,
      message: 'open batch with no line in flight and no dispatcher run queued',
    })),
    unconfirmed: firstLook - missing.length,
    fixed: opts.fix ? missing.length : 0,
  };
}
