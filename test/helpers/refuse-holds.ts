import type { Sql } from '../../shared/db/client.js';

/**
 * Make Postgres refuse every new hold of one child key, as a full disk or a lost primary would: a
 * check constraint named after the key (NOT VALID, so no existing row is judged). Returns the undo,
 * which may run more than once.
 */
export async function refuseHoldsOf(sql: Sql, childKeyId: string): Promise<() => Promise<void>> {
  const name = `test_refuse_${childKeyId}`;
  await sql.unsafe(
    `alter table holds add constraint "${name}" check (child_key_id <> '${childKeyId}') not valid`,
  );
  return async () => {
    await sql.unsafe(`alter table holds drop constraint if exists "${name}"`);
  };
}
