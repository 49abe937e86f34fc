import { loadConfig } from '../shared/config.js';
import { createSql, ensureDatabase } from '../shared/db/client.js';
import { migrate } from '../shared/db/migrate.js';

/** `npm run migrate`: create the database if missing and apply pending migrations. */
const config = loadConfig(process.env, () => {});
await ensureDatabase(config.DATABASE_URL);
const sql = createSql(config.DATABASE_URL, { max: 1 });
try {
  const applied = await migrate(sql);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
} finally {
  await sql.end();
}
