import type { Db } from '../db/client.js';
import { countLines } from '../db/queries/batch-lines.js';
import type { BatchRow } from '../db/queries/batches.js';
import { type BatchObject, formatBatch } from './format.js';

/** Batch objects with their live request_counts, counted in one query for the lot. */
export async function batchObjects(db: Db, rows: BatchRow[]): Promise<BatchObject[]> {
  const counts = await countLines(
    db,
    rows.map((b) => b.id),
  );
  return rows.map((b) => formatBatch(b, counts.get(b.id)!));
}
