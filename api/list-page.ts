/**
 * OpenAI's list envelope, for lists paged with `after` (the last id of the previous page): the
 * caller fetched `limit + 1` rows, so `has_more` is exact and a full last page says false.
 */
export function listPage<T extends { id: string }>(
  data: T[],
  fetched: number,
  limit: number,
): { object: 'list'; data: T[]; first_id: string | null; last_id: string | null; has_more: boolean } {
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: fetched > limit,
  };
}

/**
 * A /v1 list's `after` that the calling key cannot see: it tells nothing, so the list answers an
 * empty page (the list queries place a cursor within the account, and another management key's row
 * would page from its place in this key's list). Only a request with a cursor pays the look-up.
 */
export async function hiddenCursor<T>(
  after: string | undefined,
  find: (id: string) => Promise<T | null>,
  visible: (row: T) => boolean,
): Promise<boolean> {
  if (after === undefined) return false;
  const row = await find(after);
  return row === null || !visible(row);
}
