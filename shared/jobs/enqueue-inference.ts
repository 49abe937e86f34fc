import type { Context } from '../context.js';
import { GroupCommit } from '../group-commit.js';
import type { Queues } from '../queues.js';

const enqueuers = new WeakMap<Queues, GroupCommit<string>>();

/**
 * Queue an admitted job (or batch line) for a node. Jobs accepted while the last hand-off was in
 * flight go to Redis together (addBulk, one round trip), each its own BullMQ job under its job id,
 * so a repeated hand-off of the same job (reconciliation) cannot queue it twice.
 */
export function enqueueInference(ctx: Context, queues: Queues, jobId: string): Promise<void> {
  let e = enqueuers.get(queues);
  if (!e) {
    const opts = {
      attempts: ctx.config.INFERENCE_ATTEMPTS,
      backoff: { type: 'exponential', delay: ctx.config.INFERENCE_BACKOFF_MS },
    };
    e = new GroupCommit((ids) =>
      queues.addBulk(
        'inference',
        ids.map((id) => ({ payload: { jobId: id }, opts: { ...opts, jobId: id } })),
      ),
    );
    enqueuers.set(queues, e);
  }
  return e.add(jobId);
}
