import { api, listOrEmpty } from '../api.js';

/** Ids per lookup: what the children list's `ids` filter takes at once. */
const IDS_PER_CALL = 100;
/**
 * Keys for a list to choose from (a filter's options), newest first, shared among the management
 * keys (each asked for at least CHOICES_PER_MK_MIN): a thousand each made 100 management keys'
 * choices a 60 MB answer (dash31).
 */
const CHOICES = 1000;
const CHOICES_PER_MK_MIN = 20;

/**
 * child key id → `{ name, mk }`, so usage rows, jobs and batches (which carry only `key_id`) can be
 * shown with the names the owner gave. With `ids`, only those keys are asked for (the rows on
 * screen); without, the newest CHOICES shared among the management keys (a filter's options). Never
 * every key: a reseller's 30,000 were a 22 MB answer that timed out.
 */
export async function childKeyIndex(managementKeys, ids) {
  const wanted = ids === undefined ? null : [...new Set(ids.filter(Boolean))];
  if (wanted?.length === 0) return new Map();
  const asks = wanted
    ? Array.from({ length: Math.ceil(wanted.length / IDS_PER_CALL) }, (_, i) => ({
        ids: wanted.slice(i * IDS_PER_CALL, (i + 1) * IDS_PER_CALL).join(','),
      }))
    : [{ limit: Math.max(CHOICES_PER_MK_MIN, Math.floor(CHOICES / Math.max(managementKeys.length, 1))) }];
  const lists = await Promise.all(
    managementKeys.flatMap((mk) =>
      asks.map(async (params) => ({ mk, children: await listOrEmpty(api.childKeys(mk.id, params)) })),
    ),
  );
  const index = new Map();
  for (const { mk, children } of lists) for (const c of children) index.set(c.id, { name: c.name, mk });
  return index;
}
