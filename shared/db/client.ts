import postgres from 'postgres';

export type Sql = postgres.Sql<{ bigint: bigint }>;
export type TxSql = postgres.TransactionSql<{ bigint: bigint }>;
/** Either the pool or an open transaction: query functions take this so callers choose the scope. */
export type Db = Sql | TxSql;

export interface DbOptions {
  max?: number;
  /** A query's limit, its wait for a connection included (QUERY_TIMEOUT past it). @default none */
  queryTimeoutMs?: number;
}

/** A postgres.js pool where int8 columns come back as bigint (money is never a Number). */
export function createSql(url: string, opts: DbOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    ...(opts.queryTimeoutMs ? { query_timeout: opts.queryTimeoutMs / 1000 } : {}),
    types: { bigint: postgres.BigInt },
    // Parameters typed from their JavaScript values (a bigint as int8, a Date as timestamptz), as
    // postgres.js 3 did and every query here was written for; 4 otherwise lets the server decide.
    infer: true,
    // After failed connection attempts the pool answers at once with the last failure until its next
    // attempt (so a request gets its 503 without waiting); postgres.js's default spaces attempts up
    // to 20 s apart, ours at most 1 s, so the gateway is back within a second of Postgres.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1),
    onnotice: () => {}, // Postgres's NOTICEs (e.g. "already exists, skipping") are not ours to log
    connection: { application_name: 'gonka-gateway' },
  }) as unknown as Sql;
}

/**
 * Create the database named in `url` if it does not exist (API.md: created if missing). It is
 * reached first as it is: only when Postgres says it does not exist (3D000) is the maintenance
 * database `postgres` asked to create it, so a user without rights there, or a pooler that only
 * serves the gateway's database, starts a gateway whose database exists.
 */
export async function ensureDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!name) return;
  const probe = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await probe`select 1`;
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err;
  } finally {
    await probe.end({ timeout: 5 });
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    if (rows.length === 0) {
      try {
        await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`);
      } catch (err) {
        // Another process created it between our check and our create: fine. Postgres says so
        // with 42P04, or with 23505 when both creates raced into its catalog at once.
        const code = (err as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw err;
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
