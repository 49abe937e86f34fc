import type { Context } from '../context.js';
import { keyParentsOf, keysActiveSince, openHoldKeys } from '../db/queries/reconcile-admission.js';
import { type AccountIds, emptyIds, scanAdmissionState } from './redis-state.js';

/**
 * Which accounts, keys and management keys to reconcile: everything Redis has, every account with
 * open holds (their Redis hold records must exist even when nothing else is loaded), and with
 * `eager` (--fix) every key used this month, so a Redis that lost everything is rebuilt for the
 * accounts that are using it rather than one request at a time. Each key's management key joins it.
 */
export async function buildScope(
  ctx: Context,
  opts: { eager: boolean; monthStart: string },
): Promise<Map<string, AccountIds>> {
  const scope = await scanAdmissionState(ctx);
  const add = (accountId: string) => {
    const ids = scope.get(accountId) ?? emptyIds();
    scope.set(accountId, ids);
    return ids;
  };
  const extra = opts.eager ? await keysActiveSince(ctx.sql, opts.monthStart) : await openHoldKeys(ctx.sql);
  for (const k of extra) add(k.account_id).keys.add(k.id);

  const keyIds = [...new Set([...scope.values()].flatMap((ids) => [...ids.keys]))];
  for (let i = 0; i < keyIds.length; i += 1000) {
    for (const k of await keyParentsOf(ctx.sql, keyIds.slice(i, i + 1000)))
      scope.get(k.account_id)?.mks.add(k.management_key_id);
  }
  return scope;
}

export function subset(scope: Map<string, AccountIds>, accounts: Iterable<string>): Map<string, AccountIds> {
  const out = new Map<string, AccountIds>();
  for (const a of accounts) {
    const ids = scope.get(a);
    if (ids) out.set(a, ids);
  }
  return out;
}
