import { type ParseArgsConfig, parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../shared/config.js';
import { type Context, createContext } from '../shared/context.js';
import { redactPaths } from '../shared/logger.js';

/**
 * The Context of a one-shot command (npm run reconcile, npm run topup). Logs go to stderr so stdout
 * carries only the command's output. A configuration that cannot load goes to `fail`, which exits
 * with the command's own code.
 */
export function cliContext(fail: (message: string) => never): Context {
  try {
    const config = loadConfig(process.env, () => {}, { sessions: false });
    return createContext(config, {
      logger: pino({ level: config.LOG_LEVEL, redact: redactPaths }, pino.destination(2)),
    });
  } catch (err) {
    return fail(err instanceof ConfigError ? err.message : String(err));
  }
}

/**
 * The database a command acts on, by name, for it to say so: a wrong DATABASE_URL (or REDIS_PREFIX)
 * acts out of the gateway's sight.
 */
export function databaseName(ctx: Context): string {
  return new URL(ctx.config.DATABASE_URL).pathname.slice(1);
}

/**
 * What stopped a command, for an operator: the store it could not reach or use, by its address
 * (credentials left out) and what to check; anything else as its stack.
 */
export function describeFailure(ctx: Context, err: unknown): string {
  const e = err as {
    code?: string;
    name?: string;
    message?: string;
    stack?: string;
    /** A socket error's peer: the store it could not reach (ECONNREFUSED, ENOTFOUND). */
    address?: string;
    hostname?: string;
    port?: number;
  } | null;
  const address = (url: string, defaultPort: number) => {
    const u = new URL(url);
    return { host: u.hostname, port: Number(u.port || defaultPort) };
  };
  const postgres = address(ctx.config.DATABASE_URL, 5432);
  const where = ({ host, port }: { host: string; port: number }) => `${host}:${port}`;
  if (e?.code === '3D000')
    return `${e.message}: give the command the gateway's own DATABASE_URL (and REDIS_PREFIX)`;
  if (e?.code === '42P01')
    return `${e.message}: this database has no gateway tables; give the command the gateway's own DATABASE_URL`;
  // postgres.js passes a socket's error on as it is: told from Redis's by the address it names.
  const postgresUnreachable =
    e?.code === 'CONNECT_TIMEOUT' ||
    ((e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND') &&
      (e.hostname === postgres.host || (e.port === postgres.port && e.address !== undefined)));
  if (postgresUnreachable)
    return `Postgres at ${where(postgres)} does not answer (${e?.message}): is it running, and is DATABASE_URL right?`;
  const fromPostgres = e?.name === 'PostgresError';
  if (e?.name === 'MaxRetriesPerRequestError' || (!fromPostgres && ctx.redis.status !== 'ready'))
    return `Redis at ${where(address(ctx.config.REDIS_URL, 6379))} does not answer (${e?.message ?? String(err)}): is it running, and is REDIS_URL right?`;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/**
 * A command's flags, parsed strictly (no positionals): an unknown or malformed flag goes to `fail`
 * with the usage, and `--help` / `-h` prints the usage and exits 0.
 */
type FlagOptions = NonNullable<ParseArgsConfig['options']>;

export function cliArgs<const O extends FlagOptions>(
  options: O,
  usage: string,
  fail: (message: string) => never,
): ReturnType<
  typeof parseArgs<{ options: O & { help: { type: 'boolean'; short: 'h' } }; strict: true }>
>['values'] {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    return fail(`${(err as Error).message}\n${usage}`);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values as never;
}
