import type { Config } from './config.js';
import type { Context } from './context.js';
import type { Logger } from './logger.js';

/**
 * The context as one request (or one job's run) sees it: the same connections, and a logger whose
 * every line carries `fields` (its request id, say), however deep the code that writes it. The
 * child logger is made at the first line: a pino child costs about 0.4 µs and most requests log
 * nothing, so on the hot path this object is all a request pays for.
 */
export function withLogFields(ctx: Context, fields: Record<string, unknown>): Context {
  return new LoggingContext(ctx, fields);
}

class LoggingContext implements Context {
  readonly config: Config;
  readonly sql: Context['sql'];
  readonly redis: Context['redis'];
  readonly scripts: Context['scripts'];
  readonly keys: Context['keys'];
  readonly clock: Context['clock'];
  readonly lookupHost: Context['lookupHost'];
  #logger: Logger | undefined;

  constructor(
    private readonly base: Context,
    private readonly fields: Record<string, unknown>,
  ) {
    this.config = base.config;
    this.sql = base.sql;
    this.redis = base.redis;
    this.scripts = base.scripts;
    this.keys = base.keys;
    this.clock = base.clock;
    this.lookupHost = base.lookupHost;
  }

  get logger(): Logger {
    this.#logger ??= this.base.logger.child(this.fields);
    return this.#logger;
  }
}
