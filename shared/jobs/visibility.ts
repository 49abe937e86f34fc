import type { ChildKeyIdentity } from '../db/queries/admission-state.js';
import type { JobRow } from '../db/queries/jobs.js';

/**
 * Jobs and batches are visible to every child key of the same management key (API.md); to anyone
 * else they do not exist (404, never 403).
 */
export function visibleToKey(row: Pick<JobRow, 'management_key_id'> | null, key: ChildKeyIdentity): boolean {
  return row !== null && row.management_key_id === key.management_key_id;
}
