import { ApiError } from '../shared/errors.js';

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
 * A list's `after` that is not a row the caller can list: a 400 naming it. An empty page would read
 * as the end of the list, and a client paging with a mistyped or stale cursor would stop early. A
 * row that does not exist and another key's or account's answer alike, so it tells nothing of them.
 * (The /v1 lists check before their query: their queries place a cursor within the account, and
 * another management key's row would page from its place in this key's list.)
 */
export async function refuseHiddenCursor<T>(
  after: string | undefined,
  find: (id: string) => Promise<T | null>,
  visible: (row: T) => boolean,
  what: string,
): Promise<void> {
  if (after === undefined) return;
  const row = await find(after);
  if (row === null || !visible(row)) throw ApiError.invalid('after', `after must be the id of ${what}`);
}
