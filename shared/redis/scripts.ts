import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { assetPath } from '../assets.js';

const dir = assetPath('shared/redis/scripts/');

/**
 * Lua scripts by name; the file name ends in the number of keys it touches (`admit-9.lua`), or `n`
 * when that varies per call (`release-holds-n.lua`).
 */
const SCRIPTS = {
  admit: 'admit-9.lua',
  keyAccess: 'key-access-3.lua',
  unadmit: 'unadmit-9.lua',
  releaseHolds: 'release-holds-n.lua',
  setKeyState: 'set-key-state-1.lua',
  loadCounters: 'load-counters-n.lua',
  loadRpmWindow: 'load-rpm-window-1.lua',
  creditBalance: 'credit-balance-3.lua',
  loadBalance: 'load-balance-n.lua',
  // Scheduler leader lock and reconciliation repairs (shared/scheduler, shared/reconcile).
  renewLock: 'renew-lock-1.lua',
  releaseLock: 'release-lock-1.lua',
  putHoldRecord: 'put-hold-record-5.lua',
  pruneHeldRecords: 'prune-held-n.lua',
  // Idempotency-Key claims (shared/idempotency.ts).
  claim: 'claim-1.lua',
  unclaim: 'unclaim-1.lua',
} as const;

export type ScriptName = keyof typeof SCRIPTS;
type ScriptArg = string | number;

export interface ScriptRunner {
  run(name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown>;
}

/**
 * Registers every script on the connection with `defineCommand`, so calls go out as EVALSHA and fall
 * back to EVAL after a Redis restart flushed the script cache.
 */
export function loadScripts(redis: Redis): ScriptRunner {
  const commands = redis as unknown as Record<string, (args: ScriptArg[]) => Promise<unknown>>;
  // Local functions every script may use (Redis scripts cannot import): exact nGNK arithmetic,
  // the key checks admission and the no-hold /v1 routes share, moving a load epoch, and the
  // index of an account's hold records.
  const prelude = ['decimal.lua', 'key-checks.lua', 'load-epoch.lua', 'hold-index.lua']
    .map((f) => readFileSync(dir + f, 'utf8'))
    .join('\n');
  const variableKeys = new Set<string>();
  for (const [name, file] of Object.entries(SCRIPTS)) {
    const count = /-(\d+|n)\.lua$/.exec(file)?.[1];
    if (count === 'n') variableKeys.add(name);
    if (!(name in commands))
      redis.defineCommand(name, {
        // Without numberOfKeys, ioredis takes the key count as the first argument of each call.
        ...(count === 'n' ? {} : { numberOfKeys: Number(count) }),
        lua: `${prelude}\n${readFileSync(dir + file, 'utf8')}`,
      });
  }
  return {
    run(name, keys, args) {
      const fn = commands[name];
      if (!fn) throw new Error(`script ${name} is not loaded`);
      // One array (ioredis flattens it), never spread into the call: a balance's load carries every
      // open hold of its account, and tens of thousands of arguments overflow the call stack.
      if (variableKeys.has(name)) return fn.call(redis, [keys.length, ...keys, ...args]);
      return fn.call(redis, [...keys, ...args]);
    },
  };
}
