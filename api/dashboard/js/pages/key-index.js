import { api, listOrEmpty } from '../api.js';

/**
 * child key id → `{ name, mk }` across every management key, so usage rows, jobs and batches (which
 * carry only `key_id`) can be shown with the names the owner gave.
 */
export async function childKeyIndex(managementKeys) {
  const lists = await Promise.all(
    managementKeys.map(async (mk) => ({ mk, children: await listOrEmpty(api.childKeys(mk.id)) })),
  );
  const index = new Map();
  for (const { mk, children } of lists) for (const c of children) index.set(c.id, { name: c.name, mk });
  return index;
}
