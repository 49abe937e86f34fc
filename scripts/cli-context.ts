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
    const config = loadConfig(process.env, () => {});
    return createContext(config, {
      logger: pino({ level: config.LOG_LEVEL, redact: redactPaths }, pino.destination(2)),
    });
  } catch (err) {
    return fail(err instanceof ConfigError ? err.message : String(err));
  }
}
