import type { Db } from '../client.js';

/** A secret migration 029 made for this deployment (null when the database predates it). */
export async function findInstanceSecret(db: Db, name: string): Promise<string | null> {
  const [row] = await db<{ value: string }[]>`select value from instance_secrets where name = ${name}`;
  return row?.value ?? null;
}
