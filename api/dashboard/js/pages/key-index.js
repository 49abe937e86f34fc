import { api, listOrEmpty } from '../api.js';

/** Ids per lookup: what the children list's `ids` filter takes at once. */
const IDS_PER_CALL = 100;
/** Keys per management key for a list to choose from (a filter's options), newest first. */
const CHOICES_PER_MK = 1000;

/**
 * child key id → `{ name, mk }`, so usage rows, jobs and batches (which carry only `key_id`) can be
 * shown with the names the owner gave. With `ids`, only those keys are asked for (the rows on
 * screen); without, each management key's newest CHOICES_PER_MK (a filter's options). Never every
 * key: a reseller's 30,000 were a 22 MB answer that timed out.
 */
export async function childKeyIndex(managementKeys, ids) {
  const wanted = ids === undefined ? null : [...new Set(ids.filter(Boolean))];
  if (wanted?.length === 0) return new Map();
  const asks = wanted
    ? Array.from({ length: Math.ceil(wanted.length / IDS_PER_CALL) }, (_, i) => ({
        ids: wanted.slice(i * IDS_PER_CALL, (i + 1) * IDS_PER_CALL).join(','),
      }))
    : [{ limit: CHOICES_PER_MK }];
  const lists = await Promise.all(
    managementKeys.flatMap((mk) =>
      asks.map(async (params) => ({ mk, children: await listOrEmpty(api.childKeys(mk.id, params)) })),
    ),
  );
  const index = new Map();
  for (const { mk, children } of lists) for (const c of children) index.set(c.id, { name: c.name, mk });
  return index;
}
