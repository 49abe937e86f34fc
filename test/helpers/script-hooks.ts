import type { Context } from '../../shared/context.js';
import type { ScriptName } from '../../shared/redis/scripts.js';

/**
 * What runs before a Redis script's call: whatever it awaits happens first (a race, forced); a
 * throw fails the call without running the script (a timeout, a process killed).
 */
type Hook = (name: ScriptName, keys: string[]) => unknown;

/** `ctx` with `hook` run before every call of its Redis scripts (the money path's races and faults). */
export function withScriptHook(ctx: Context, hook: Hook): Context {
  return {
    ...ctx,
    scripts: {
      run: async (name, keys, args) => {
        await hook(name, keys);
        return ctx.scripts.run(name, keys, args);
      },
    },
  };
}

/** A Redis timeout, as ioredis reports one. */
export const timedOut = () => new Error('Command timed out');

/** `ctx` whose named script fails once (a Redis timeout) before running; `failed()` tells if it has. */
export function failingOnce(ctx: Context, name: ScriptName): Context & { failed: () => boolean } {
  let failed = false;
  const hooked = withScriptHook(ctx, (n) => {
    if (n !== name || failed) return;
    failed = true;
    throw timedOut();
  });
  return { ...hooked, failed: () => failed };
}

/** `ctx` that runs `first` once, just before the named script's first call; `raced()` tells if it has. */
export function racingOnce(
  ctx: Context,
  name: ScriptName,
  first: () => Promise<unknown>,
): Context & { raced: () => boolean } {
  let raced = false;
  const hooked = withScriptHook(ctx, async (n) => {
    if (n !== name || raced) return;
    raced = true;
    await first();
  });
  return { ...hooked, raced: () => raced };
}
