import type { ChildKeyIdentity } from '../db/queries/admission-state.js';

/**
 * Jobs, batches and files are visible to every child key of the same management key (API.md); to
 * anyone else they do not exist (404, never 403).
 */
export function visibleToKey<T extends { management_key_id: string | null }>(
  row: T | null,
  key: ChildKeyIdentity,
): row is T {
  return row !== null && row.management_key_id === key.management_key_id;
}
