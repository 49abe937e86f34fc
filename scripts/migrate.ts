import { ConfigError, loadConfig } from '../shared/config.js';
import { createSql, ensureDatabase } from '../shared/db/client.js';
import { migrate } from '../shared/db/migrate.js';
import { cliArgs } from './cli-context.js';

/**
 * `npm run migrate`: create the database if missing and apply pending migrations (safe to run from
 * several processes at once: they take turns under an advisory lock). Exits 0 when the database is
 * up to date, 1 when it could not be brought there, 2 on a bad command line.
 */
const USAGE = 'usage: npm run migrate [-- --help]   (DATABASE_URL names the database)';

function fail(message: string, code = 1): never {
  console.error(`migrate: ${message}`);
  process.exit(code);
}

// No flags but --help; anything else is a usage error (exit 2).
cliArgs({}, USAGE, (message) => fail(message, 2));

const config = (() => {
  try {
    return loadConfig(process.env, () => {}, { sessions: false });
  } catch (err) {
    return fail(err instanceof ConfigError ? err.message : String(err));
  }
})();

// postgres.js's messages name the host and port, the user and the database, never the password.
try {
  await ensureDatabase(config.DATABASE_URL);
  const sql = createSql(config.DATABASE_URL, { max: 1 });
  try {
    const applied = await migrate(sql);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await sql.end();
  }
} catch (err) {
  const where = new URL(config.DATABASE_URL);
  fail(
    `Postgres at ${where.hostname}:${where.port || 5432}: ${err instanceof Error ? err.message : String(err)} (is it running, and is DATABASE_URL right?)`,
  );
}
