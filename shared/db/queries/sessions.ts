import type { Db } from '../client.js';

/** A session logged out of: refused until `expiresAt`, when its token expires anyway. */
export async function revokeSession(
  db: Db,
  s: { jti: string; accountId: string; expiresAt: Date },
): Promise<void> {
  await db`
    insert into revoked_sessions (jti, account_id, expires_at)
    values (${s.jti}, ${s.accountId}, ${s.expiresAt})
    on conflict (jti) do nothing`;
}

/** Whether a session was logged out of. */
export async function isSessionRevoked(db: Db, jti: string): Promise<boolean> {
  const [row] = await db<{ one: number }[]>`select 1 as one from revoked_sessions where jti = ${jti}`;
  return row !== undefined;
}

/** Rows of tokens that have expired by `now` (they are refused for their `exp`), a bounded number at a time. */
export async function deleteExpiredRevocations(db: Db, now: Date, limit = 1000): Promise<number> {
  const rows = await db`
    delete from revoked_sessions where jti in (
      select jti from revoked_sessions where expires_at < ${now} limit ${limit})`;
  return rows.count;
}
