import type { ChainableCommander } from 'ioredis';
import { queueWindowEntries } from '../admission/rpm-window.js';
import type { Finding, Repair } from './types.js';

/** A hold record's name into its account's index, as indexHold (hold-index.lua): it outlives the record. */
function queueIndexing(multi: ChainableCommander, r: { index: string; holdId: string; ttlS: number }): void {
  multi.sadd(r.index, r.holdId);
  multi.expire(r.index, r.ttlS, 'NX');
  multi.expire(r.index, r.ttlS, 'GT');
}

/** Queue one repair on a MULTI. */
function queue(multi: ChainableCommander, r: Repair): void {
  switch (r.kind) {
    case 'value':
      if (r.ttlS > 0) multi.set(r.key, r.value, 'EX', r.ttlS);
      else multi.set(r.key, r.value);
      return;
    case 'newerState':
      multi.hset(r.key, 'v', r.version, ...r.fields);
      return;
    case 'state':
      multi.del(r.key);
      multi.hset(r.key, ...r.fields);
      return;
    case 'putHold':
      multi.del(r.key);
      multi.hset(r.key, 'amt', r.amount, 'k', r.keyId, 'at', r.admittedMs, 'dl', r.deadlineMs);
      multi.expire(r.key, r.ttlS);
      queueIndexing(multi, r);
      return;
    case 'indexHold':
      queueIndexing(multi, r);
      return;
    case 'delHold':
      multi.del(r.key);
      multi.srem(r.index, r.holdId);
      return;
    case 'marker':
      multi.set(r.key, '1', 'EX', r.ttlS, 'NX');
      return;
    case 'rpmWindow':
      queueWindowEntries(multi, r.key, r.entries);
      return;
  }
}

/** Queue every finding's repairs on the MULTI; returns how many drift and missing findings it repairs. */
export function queueRepairs(
  multi: ChainableCommander,
  findings: Finding[],
): { fixed: number; restored: number } {
  const out = { fixed: 0, restored: 0 };
  for (const f of findings) {
    if (f.repairs.length === 0) continue;
    for (const r of f.repairs) queue(multi, r);
    if (f.kind === 'drift') out.fixed++;
    else out.restored++;
  }
  return out;
}
