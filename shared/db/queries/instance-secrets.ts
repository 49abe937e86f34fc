import type { Db } from '../client.js';

/** A secret migration 029 made for this deployment (null when the database predates it). */
export async function findInstanceSecret(db: Db, name: string): Promise<string | null> {
  const [row] = await db<{ value: string }[]>`select value from instance_secrets where name = ${name}`;
  return row?.value ?? null;
}

/** The key sessions are signed with when JWT_SECRET is not set (migration 036). */
export async function sessionSigningSecret(db: Db): Promise<string> {
  const secret = await findInstanceSecret(db, 'session_signing');
  if (!secret) throw new Error('instance_secrets lacks the session signing key: run the migrations');
  return secret;
}
