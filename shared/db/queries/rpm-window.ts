import type { Db } from '../client.js';

/** One admitted request in a key's RPM window: its hold id and admission instant (ms). */
export interface RpmWindowEntry {
  id: string;
  atMs: number;
}

/**
 * A key's holds created in (after, upTo], newest first, at most `limit`: every admitted request
 * left one (created_at is the admission clock's instant), refused ones none. Batch lines' holds are
 * left out: they take no RPM slot. Open or resolved alike, so it reads the BRIN index on created_at
 * (migration 008: the last minute's block ranges), not the open-only indexes.
 */
export async function holdsCreatedIn(
  db: Db,
  keyId: string,
  after: Date,
  upTo: Date,
  limit: number,
): Promise<RpmWindowEntry[]> {
  const rows = await db<{ id: string; created_at: Date }[]>`
    select h.id, h.created_at from holds h
    where h.child_key_id = ${keyId} and h.created_at > ${after} and h.created_at <= ${upTo}
      -- Batch lines take no RPM slot (AdmitInput.countRpm); a line's job id is its hold's request id.
      and not exists (select 1 from jobs j where j.id = h.request_id and j.batch_id is not null)
    order by h.created_at desc
    limit ${limit}`;
  return rows.map((r) => ({ id: r.id, atMs: r.created_at.getTime() }));
}
