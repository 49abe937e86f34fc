import type { Context } from '../context.js';
import type { Sql } from '../db/client.js';
import { deleteOutboxRows } from '../db/queries/event-outbox.js';
import { GroupCommit } from '../group-commit.js';
import { onePer } from '../per-owner.js';
import type { Queues } from '../queues.js';
import { emitEventCounted, type WebhookEvent } from './emit.js';

const emittedWrites = onePer((sql: Sql) => new GroupCommit<string>((ids) => deleteOutboxRows(sql, ids)));

/** Outbox rows of events just emitted, deleted together (a busy worker ends many jobs at once). */
function markEmitted(sql: Sql, subjectId: string): Promise<void> {
  return emittedWrites(sql)
    .add(subjectId)
    .then(() => {});
}

/**
 * Emit the event a job's or batch's end recorded in event_outbox, then clear the record. Keyed by
 * the event, so a second emit of it (the sweep meeting the worker, a crash before the clear)
 * reaches no destination twice.
 */
export async function emitFinalEvent(
  ctx: Context,
  queues: Queues,
  subjectId: string,
  event: Omit<WebhookEvent, 'key'>,
): Promise<void> {
  const { destinations } = await emitEventCounted(ctx, queues, {
    ...event,
    key: `${event.type}:${subjectId}`,
  });
  // An end nobody hears recorded no event (jobEventHeard): no record to clear, no statement per
  // job. (One heard when it ended but by nobody now is cleared by the missed-events sweep.)
  if (destinations > 0) await markEmitted(ctx.sql, subjectId);
}
