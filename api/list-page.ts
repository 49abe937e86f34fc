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
